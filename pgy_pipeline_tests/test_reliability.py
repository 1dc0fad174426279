"""Hostile API, crashes, concurrent use and a quota cut in the middle of a big refresh.

Each test drives the real pipeline (Dagster runs, loopback HTTP, DuckDB files) and
compares the end state with the simulator's ground truth.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pgy_pipeline.cli import runner
from pgy_pipeline.defs.sensors import kol_retry_sensor
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.simulator_process import counters, simulator_process, wait_for_calls
from pgy_pipeline_tests.support import MakeEnv, expected_frame, stored_frame

REPO = Path(__file__).resolve().parents[1]
PGY = str(Path(sys.executable).with_name("pgy"))


@pytest.mark.timeout(300)
def test_a_hostile_api_converges_to_exactly_the_simulators_data(make_env: MakeEnv):
    good = [f"kol{i:03d}" for i in range(100)]
    bad = {"kol_denied": "permission denied", "kol_weird": "unknown business code"}
    env = make_env(
        "hostile",
        rate_limit_per_s=None,  # faults, not waiting, are what this test is about
        latency_s=0.0,
        stall_s=0.6,
        forbidden_users={"kol_denied"},
        user_codes={"kol_weird": 999},
        api={"read_timeout_s": 0.3, "max_attempts": 3},
        pgy={"retry_cooldown_s": 0.0, "retry_max_attempts": 8, "kol_workers": 8},
    )
    runs = env.refresh([*good, *bad])
    assert not runs[0].success  # the two bad KOLs at least
    runner.run_due_retries(env.defs, env.instance)
    faults = env.sim.counters().faults
    assert faults.get("html_502") and faults.get("truncated") and faults.get("string_numbers")
    with env.db() as conn:
        for user_id in good:
            assert stored_frame(conn, user_id) == expected_frame(env.sim, user_id), user_id
        dups = conn.execute(
            "SELECT count(*) FROM (SELECT user_id, note_id FROM notes GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
        bad_rows = conn.execute(
            "SELECT count(*) FROM notes WHERE user_id IN ('kol_denied', 'kol_weird')"
        ).fetchone()[0]
        snap_dups = conn.execute(
            "SELECT count(*) FROM (SELECT fetch_id, note_id FROM note_snapshots GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
    assert dups == 0 and snap_dups == 0 and bad_rows == 0
    mat, failed = env.partition_status("notes")
    assert set(good) <= mat and failed == set(bad)
    state = PipelineState(env.data_dir)
    for user_id in bad:
        f = state.failure(user_id)
        assert f is not None and f.gave_up and f.error_kind == "rejected"
    assert state.failure("kol_weird").code == 999


def _env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JUSTONEAPI_TOKEN", "PGY_DAILY_CALL_BUDGET")}
    env |= {
        "JUSTONEAPI_BASE_URL": url,
        "PGY_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    return env | extra


def _roster(tmp_path: Path, user_ids: list[str], name: str = "kols.csv") -> Path:
    path = tmp_path / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("user_id,label\n" + "".join(f"{u},\n" for u in user_ids), encoding="utf-8")
    return path


def _stored_pages(data: Path) -> set[tuple[str, int]]:
    raw = RawStore(data)
    out = set()
    if raw.root.exists():
        for d in raw.root.iterdir():
            for fetch_id in raw.fetch_ids(d.name):
                out |= {(d.name, p) for p in raw.pages(d.name, fetch_id)}
    return out


def _consistent(data: Path) -> None:
    """The database opens, and no key is duplicated."""
    with Warehouse(data).read_working() as conn:
        for sql in (
            "SELECT count(*) FROM (SELECT user_id, note_id FROM notes GROUP BY ALL HAVING count(*) > 1)",
            "SELECT count(*) FROM (SELECT fetch_id, note_id FROM note_snapshots GROUP BY ALL HAVING count(*) > 1)",
        ):
            assert conn.execute(sql).fetchone()[0] == 0
    if (data / "pgy.duckdb").exists():
        with duckdb.connect(str(data / "pgy.duckdb"), read_only=True) as snap:
            snap.execute("SELECT count(*) FROM notes").fetchone()


@pytest.mark.timeout(300)
def test_a_refresh_killed_at_random_moments_completes_without_duplicates_or_buying_twice(tmp_path):
    users = [f"kol{i:03d}" for i in range(40)]
    truth = Simulator("realistic", seed=11)
    rng = random.Random(20261126)
    with simulator_process("realistic", 11, {"rate_limit_per_s": None, "latency_s": 0.04}) as url:
        env = _env(tmp_path, url)
        _roster(tmp_path, users)
        data = tmp_path / "data"
        for kill in range(2):
            proc = subprocess.Popen(
                [PGY, "refresh", "--no-engagement"],
                env=env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Killed after a random number of its ~1,100 calls: into fetching and writing, however
            # slow start-up is.
            wait_for_calls(url, rng.randint(20, 400), proc)
            assert proc.poll() is None, "the refresh ended before it could be killed"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            _consistent(data)
            stored = _stored_pages(data)
            before = {(u, p): n for u, p, n in counters(url)["by_user_page"]}
            done = (
                subprocess.run(
                    [PGY, "refresh", "--no-engagement"],
                    env=env,
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    timeout=240,
                )
                if kill == 1
                else None
            )
            if done is not None:
                assert done.returncode == 0, done.stdout + done.stderr
                after = {(u, p): n for u, p, n in counters(url)["by_user_page"]}
                # Pages already stored when the process died were never requested again.
                rebought = {k for k in stored if after.get(k, 0) != before.get(k, 0)}
                assert rebought == set()
    _consistent(data)
    with Warehouse(data).connect_snapshot() as conn:
        for u in users:
            assert stored_frame(conn, u) == expected_frame(truth, u), u


@pytest.mark.timeout(300)
def test_two_refreshes_and_an_analyst_read_loop_at_once(tmp_path):
    first = [f"a{i:03d}" for i in range(30)]
    second = [f"b{i:03d}" for i in range(30)]
    truth = Simulator("clean", seed=5)
    with simulator_process("clean", 5, {"latency_s": 0.02}) as url:
        env = _env(tmp_path, url)
        _roster(tmp_path, first, "first.csv")
        _roster(tmp_path, second, "second.csv")
        # Partitions are added up front: two processes adding at once is not what this tests.
        subprocess.run([PGY, "kols", "list"], env=env, cwd=REPO, capture_output=True, timeout=60)
        procs = [
            subprocess.Popen(
                [PGY, "refresh", "--kols", str(tmp_path / "data" / name)],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for name in ("first.csv", "second.csv")
        ]
        reads, failures = 0, []
        stop = threading.Event()

        def analyst() -> None:
            nonlocal reads
            path = tmp_path / "data" / "pgy.duckdb"
            while not stop.is_set():
                if not path.exists():
                    time.sleep(0.05)
                    continue
                try:
                    with duckdb.connect(str(path), read_only=True) as conn:
                        conn.execute("SELECT count(*), sum(read_num) FROM notes").fetchone()
                        conn.execute("SELECT count(*) FROM api_calls").fetchone()
                    reads += 1
                except Exception as exc:  # any failure is what this test exists to catch
                    failures.append(repr(exc))
                time.sleep(0.02)

        reader = threading.Thread(target=analyst)
        reader.start()
        outs = [p.communicate(timeout=240)[0] for p in procs]
        stop.set()
        reader.join()
    assert failures == [] and reads > 20
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out
        assert "Could not set lock" not in out
    with Warehouse(tmp_path / "data").connect_snapshot() as conn:
        for u in first + second:
            assert stored_frame(conn, u) == expected_frame(truth, u), u


@pytest.mark.timeout(300)
def test_quota_cut_in_a_1000_kol_refresh_stops_at_once_and_the_next_day_resumes(make_env: MakeEnv):
    users = [f"k{i:04d}" for i in range(1000)]
    env = make_env(
        fixed_counts={u: 5 + (i % 12) for i, u in enumerate(users)},  # 1 or 2 pages each
        daily_quota=600,
        instance="ephemeral",  # 4,000 asset events: in memory, to keep the suite fast
        # The resumed run comes within fresh_for_h: KOLs finished before the cut are not bought again.
        pgy={"kol_workers": 8, "retry_cooldown_s": 0.0, "fresh_for_h": 12.0},
    )
    runs = env.refresh(users)
    assert not runs[0].success and "daily quota exceeded (code 303)" in runs[0].failure
    c = env.sim.counters()
    # After the first 303, only calls already in flight (8 KOL workers x 4 page workers).
    assert c.by_code[0] == 600 and c.by_code[303] <= 32
    # Nothing is retried while the quota is out, and a new run makes no call.
    tick = kol_retry_sensor(dg.build_sensor_context(instance=env.instance, resources={"pgy": env.pgy}))
    assert isinstance(tick, dg.SkipReason) and "calls stopped until" in tick.skip_message
    env.refresh(users[:5])
    assert env.sim.counters().calls_total == c.calls_total
    # The next day: the quota resets at midnight Asia/Shanghai.
    state = PipelineState(env.data_dir)
    state.set_stop("quota", datetime.now(UTC) - timedelta(seconds=1), "daily quota exceeded (code 303)")
    env.sim.reset_usage()
    env.sim.update(daily_quota=None)
    env.sim.reset_counters()
    again = env.refresh(users)
    assert again[0].success
    pages_needed = sum(1 if (5 + i % 12) <= 8 else 2 for i in range(1000))
    with env.db() as conn:
        assert conn.execute("SELECT count(DISTINCT user_id) FROM notes").fetchone()[0] == 1000
        bought = conn.execute("SELECT count(*) FROM api_calls WHERE code = 0").fetchone()[0]
    # Every page bought exactly once across both days: stored pages of cut fetches were reused.
    assert bought == pages_needed
