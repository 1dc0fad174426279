"""Stop means stop: SIGINT and SIGTERM sent to a real `pgy refresh` at known points.

Each test runs `pgy refresh` in a child process against a simulator in another process,
sends real signals, and checks: the process exits with the signal's code; no API call starts
after the signal (the simulator counts them, holding the calls in flight while the signal
lands); the warehouse lock and the API pool slot are free; the run ends CANCELED with no
partition failed; and a second run buys no page twice and stores exactly the simulator's data.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pgy_pipeline.defs.partitions import kol_partitions
from pgy_pipeline.defs.tags import decode_interrupt
from pgy_pipeline.refresh.outcomes import InterruptSummary
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.backends import open_warehouse
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline_tests.interrupt_helpers import (
    IN_WRITE_MARKER,
    KOL_WORKERS,
    REPO,
    Child,
    all_threads_held,
    answered,
    kill_leftovers,
    wait_until,
    warehouse_lock_is_free,
)
from pgy_pipeline_tests.simulator_process import counters, hold_after, simulator_process
from pgy_pipeline_tests.support import ANCHOR, expected_frame, instance_at, stored_frame

USERS = [f"kol{i:03d}" for i in range(16)]
# Two pages of 8 each: a KOL's calls are all made by its own thread (no page window), so at
# most KOL_WORKERS calls are in flight and all of them can be held at once.
SIM: dict[str, Any] = {"latency_s": 0.01, "as_of": ANCHOR.isoformat(), "fixed_counts": {u: 12 for u in USERS}}
SEED = 21
HOLD_AFTER = 10  # calls answered before the others are held: a few KOLs done, the rest mid-fetch
ACK = "stopping."  # the line the first interrupt prints (interrupts.py)


@pytest.fixture
def sim_url() -> Iterator[str]:
    try:
        with simulator_process("clean", SEED, SIM) as url:
            yield url
    finally:
        kill_leftovers()


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JUSTONEAPI_TOKEN", "PGY_DAILY_CALL_BUDGET")}
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "kols.csv").write_text("user_id,label\n" + "".join(f"{u},\n" for u in USERS), encoding="utf-8")
    return env | {
        "JUSTONEAPI_BASE_URL": url,
        "PGY_DATA_DIR": str(data),
        "DAGSTER_HOME": str(tmp_path / "home"),
        IN_WRITE_MARKER: str(tmp_path / "in-write"),
    }


def _refresh(env: dict[str, str], instrumented: bool = False) -> Child:
    return Child(["refresh", "--no-engagement"], env, instrumented=instrumented)


def _signal_mid_fetch(url: str, child: Child, sig: int) -> dict[str, Any]:
    """Send ``sig`` while every fetching thread waits on a held call; counters when it landed."""
    at_signal = all_threads_held(url, child)
    child.proc.send_signal(sig)
    child.wait_for_line(ACK)
    # The stop is on: nothing started since the signal, whatever happens once calls are answered.
    assert counters(url)["calls_total"] == at_signal["calls_total"]
    return at_signal


def _check_no_call_after(url: str, at_signal: dict[str, Any]) -> None:
    end = counters(url)
    assert end["calls_total"] == at_signal["calls_total"], "a call started after the signal"
    assert answered(end) - answered(at_signal) <= at_signal["held"]


def _stored_pages(data: Path) -> set[tuple[str, int]]:
    raw = RawStore(data)
    return {(u, p) for u in USERS for f in raw.fetch_ids(u) for p in raw.pages(u, f)}


def _check_rerun_exact(env: dict[str, str], url: str, lost: int = 0) -> None:
    """The next run finishes the refresh, buying no stored page again, and the data is the simulator's.

    ``lost``: calls answered after the process had gone (a second interrupt does not wait for the
    calls in flight): their pages were never stored, so the next run buys them; nothing else twice.
    """
    stored = _stored_pages(Path(env["PGY_DATA_DIR"]))
    before = {(u, p): n for u, p, n in counters(url)["by_user_page"]}
    rc, out, err = _refresh(env).finish()
    assert rc == 0, out + err
    after = {(u, p): n for u, p, n in counters(url)["by_user_page"]}
    assert set(after) == {(u, p) for u in USERS for p in (1, 2)}
    assert {k for k in stored if after[k] != before[k]} == set(), "a stored page was bought again"
    twice = {k for k, n in after.items() if n != 1}
    assert len(twice) == lost and all(after[k] == 2 and k not in stored for k in twice)
    truth = Simulator("clean", seed=SEED, **SIM)
    with Warehouse(env["PGY_DATA_DIR"]).connect_snapshot() as conn:
        for u in USERS:
            assert stored_frame(conn, u) == expected_frame(truth, u), u


def _instance(env: dict[str, str]) -> contextlib.AbstractContextManager[dg.DagsterInstance]:
    return instance_at(env["DAGSTER_HOME"])


def _check_run_canceled_and_released(env: dict[str, str]) -> InterruptSummary:
    """The run ended CANCELED, says what it did, holds no pool slot and marks no partition failed:
    the KOLs written show materialised, the others keep their status (here: none yet)."""
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    assert warehouse_lock_is_free(Path(env["PGY_DATA_DIR"]))
    with Warehouse(env["PGY_DATA_DIR"]).connect_snapshot() as conn:
        rows = conn.execute("SELECT user_id FROM fetches WHERE status = 'complete'").fetchall()
    written = {u for (u,) in rows}
    with _instance(env) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.CANCELED
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
        for asset in ("notes", "note_pages"):
            value = get_and_update_asset_status_cache_value(
                instance, dg.AssetKey(asset), kol_partitions, dynamic_partitions_loader=instance
            )
            assert value is not None
            assert (
                set(value.deserialize_failed_partition_subsets(kol_partitions).get_partition_keys()) == set()
            )
            materialized = value.deserialize_materialized_partition_subsets(kol_partitions)
            assert set(materialized.get_partition_keys()) == written
        summary = decode_interrupt(run.tags)
        assert summary is not None
    assert summary.written == len(written)
    return summary


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_fetch_stops_the_buying_writes_what_is_complete_and_exits(
    tmp_path: Path, sim_url: str, sig: int
) -> None:
    env = _env(tmp_path, sim_url)
    hold_after(sim_url, HOLD_AFTER)
    child = _refresh(env)
    at_signal = _signal_mid_fetch(sim_url, child, sig)
    hold_after(sim_url, None)  # the calls in flight are answered; they are the last
    rc, out, err = child.finish()
    assert rc == 128 + sig, out + err
    _check_no_call_after(sim_url, at_signal)
    summary = _check_run_canceled_and_released(env)
    # The summary is the truth: every call the simulator answered, every KOL accounted for.
    assert summary.signal == signal.Signals(sig).name
    assert summary.calls == answered(counters(sim_url))
    assert summary.written + summary.partial + summary.not_started == len(USERS)
    assert summary.written >= 1 and summary.partial >= 1 and summary.not_started >= 1
    assert summary.describe() in out
    with Warehouse(env["PGY_DATA_DIR"]).connect_snapshot() as conn:
        assert conn.execute("SELECT count(*) FROM api_calls").fetchone() == (summary.calls,)
    assert "Traceback" not in err
    _check_rerun_exact(env, sim_url)


@pytest.mark.timeout(240)
def test_sigint_before_the_first_call_buys_nothing_and_exits(tmp_path: Path, sim_url: str) -> None:
    env = _env(tmp_path, sim_url)
    child = _refresh(env)
    child.wait_for_line("Refreshing 16 KOL(s)")  # printed just before the run starts
    child.proc.send_signal(signal.SIGINT)
    rc, out, err = child.finish()
    assert rc == 130, out + err
    assert counters(sim_url)["calls_total"] == 0
    assert "before the first API call: nothing was bought" in out
    assert "Traceback" not in err
    if (tmp_path / "data" / ".state" / "warehouse.lock").exists():
        assert warehouse_lock_is_free(tmp_path / "data")
    _check_rerun_exact(env, sim_url)


def test_a_run_interrupted_before_its_first_call_says_nothing_was_bought(capsys: Any) -> None:
    """The signal may land once the run began but before its first call (a loaded machine):
    the run's own account then says 0 calls, and the user reads the same plain sentence."""
    from pgy_pipeline.cli.refresh import _print_interrupted
    from pgy_pipeline.cli.runner import RunSummary
    from pgy_pipeline.interrupts import Interrupt

    interrupt = Interrupt()
    interrupt.signum = signal.SIGINT
    told = InterruptSummary("SIGINT", calls=0, written=0, unwritten=0, partial=0, not_started=16)
    run = RunSummary("r1", "kol_a", "kol_p", False, status="CANCELED", interrupted=told)
    _print_interrupted([run], interrupt)
    out = capsys.readouterr().out
    assert "Interrupted by SIGINT before the first API call: nothing was bought." in out
    assert "not started: 16" not in out
    bought = InterruptSummary("SIGINT", calls=3, written=1, unwritten=0, partial=1, not_started=14)
    _print_interrupted([run, RunSummary("r2", "kol_q", "kol_z", False, interrupted=bought)], interrupt)
    out = capsys.readouterr().out
    assert told.describe() in out and bought.describe() in out
    assert "nothing was bought" not in out


@pytest.mark.timeout(240)
def test_a_second_sigint_exits_at_once_with_calls_in_flight(tmp_path: Path, sim_url: str) -> None:
    env = _env(tmp_path, sim_url)
    hold_after(sim_url, HOLD_AFTER)
    child = _refresh(env)
    at_signal = _signal_mid_fetch(sim_url, child, signal.SIGINT)
    # The held calls stay unanswered: the process must not wait for them.
    child.proc.send_signal(signal.SIGINT)
    rc, out, err = child.finish(timeout_s=30)
    assert rc == 130, out + err
    assert counters(sim_url)["held"] == KOL_WORKERS
    hold_after(sim_url, None)
    assert "again: exiting now" in err
    assert warehouse_lock_is_free(Path(env["PGY_DATA_DIR"]))
    # Today's crash guarantees: the next run gives the dead run's pool slot back and finishes,
    # buying again only the pages of the calls that were in flight when the process went.
    _check_rerun_exact(env, sim_url, lost=KOL_WORKERS)
    with _instance(env) as instance:
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
    assert counters(sim_url)["calls_total"] > at_signal["calls_total"]  # the rerun bought the rest


@pytest.mark.timeout(240)
def test_sigterm_during_a_duckdb_write_rolls_it_back_and_writes_it_again(
    tmp_path: Path, sim_url: str
) -> None:
    env = _env(tmp_path, sim_url)
    hold_after(sim_url, HOLD_AFTER)
    child = _refresh(env, instrumented=True)
    # The first group write is inside DuckDB, on a statement only an interrupt ends.
    wait_until(lambda: (tmp_path / "in-write").exists(), 120, "the write to run", child)
    at_signal = _signal_mid_fetch(sim_url, child, signal.SIGTERM)
    hold_after(sim_url, None)
    rc, out, err = child.finish()
    assert rc == 143, out + err
    assert "an interrupt cancelled the write" in err  # rolled back, then written again
    _check_no_call_after(sim_url, at_signal)
    summary = _check_run_canceled_and_released(env)
    assert summary.unwritten == 0 and summary.written >= 1
    _check_rerun_exact(env, sim_url)


_WRITE_UNDER_PYTHONS_HANDLER = """
import sys
from pathlib import Path
from pgy_pipeline.warehouse.backends import open_warehouse
from pgy_pipeline_tests.interrupt_helpers import block_in_duckdb

warehouse = open_warehouse(sys.argv[1])
warehouse.ensure()
try:
    with warehouse.write() as conn:
        conn.execute("INSERT INTO kols (user_id, added_at) VALUES ('before', now())")
        block_in_duckdb(conn, Path(sys.argv[2]))
except KeyboardInterrupt:
    print("interrupted", flush=True)
with warehouse.write() as conn:
    conn.execute("INSERT INTO kols (user_id, added_at) VALUES ('after', now())")
print("written again", flush=True)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", ["file", "lake"])
def test_sigint_inside_a_duckdb_statement_rolls_back_and_never_hangs_the_next_write(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a refresh (Python's own SIGINT handler, which raises), as in `pgy replay`."""
    marker = tmp_path / "in-write"
    env = {k: v for k, v in os.environ.items() if k not in ("PGY_WAREHOUSE_URL", "PGY_LAKE_DATA_PATH")}
    if backend == "lake":
        env |= {
            "PGY_WAREHOUSE_URL": f"ducklake:sqlite:{tmp_path / 'catalog.sqlite'}",
            "PGY_LAKE_DATA_PATH": f"{tmp_path / 'lake'}/",
        }
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITE_UNDER_PYTHONS_HANDLER, str(tmp_path), str(marker)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(marker.exists, 60, "the statement to run")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()  # it hung: the failure this test is about
            proc.wait()
    assert (proc.returncode, out.split()) == (0, ["interrupted", "written", "again"]), err
    for name in ("PGY_WAREHOUSE_URL", "PGY_LAKE_DATA_PATH"):
        monkeypatch.delenv(name, raising=False)
        if name in env:
            monkeypatch.setenv(name, env[name])
    with open_warehouse(tmp_path).read_working() as conn:
        assert conn.execute("SELECT user_id FROM kols ORDER BY user_id").fetchall() == [("after",)]
