"""Data you can trust: one source per data dir, a read-only `pgy query`, one-off refreshes stay one-off."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner

from pgy_pipeline.cli import main
from pgy_pipeline.defs.partitions import KOLS_PARTITIONS_NAME
from pgy_pipeline.defs.sensors import kol_roster_sensor
from pgy_pipeline.roster import load_roster
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.support import ANCHOR, MakeEnv, instance_at

REPO = Path(__file__).resolve().parents[1]

# -- one warehouse, one source ---------------------------------------------------------------------


def test_a_data_dir_filled_by_the_api_refuses_the_simulator_before_buying(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 9})
    assert all(r.success for r in env.refresh(["kol_a"]))
    calls = env.sim.counters().calls_total
    # The same data dir, now from a process without the token (e.g. a code server that
    # never got it): it would fall back to a simulator. It must refuse, not write.
    env.api_overrides["token"] = None
    runs = env.refresh(["kol_a"])
    assert not runs[0].success
    assert "PGY_DATA_DIR" in (runs[0].failure or "") and "no call was made" in (runs[0].failure or "")
    assert env.sim.counters().calls_total == calls
    with env.db() as conn:
        assert conn.execute("SELECT count(*) FROM fetches").fetchone() == (1,)


def test_a_data_dir_filled_by_the_simulator_refuses_the_api(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 9}, api={"token": None})
    assert all(r.success for r in env.refresh(["kol_a"]))
    assert PipelineState(env.data_dir).source() == "simulator"
    env.api_overrides["token"] = "tok-real-looking-1"
    calls = env.sim.counters().calls_total
    runs = env.refresh(["kol_a"])
    assert not runs[0].success and "holds data from simulator" in (runs[0].failure or "")
    assert env.sim.counters().calls_total == calls


def test_a_data_dir_of_unrecorded_origin_is_refused_to_the_simulator(tmp_path):
    state = PipelineState(tmp_path)
    with pytest.raises(Exception, match="unrecorded origin"):
        state.claim_source("simulator", holds_data=True, simulated=True)
    state.claim_source("justoneapi", holds_data=True, simulated=False)  # the real API may claim it
    assert state.source() == "justoneapi"


def test_pgy_commands_say_when_the_data_is_simulated(make_env: MakeEnv, monkeypatch):
    env = make_env(fixed_counts={"kol_a": 9}, api={"token": None})
    env.refresh(["kol_a"])
    monkeypatch.setenv("PGY_DATA_DIR", str(env.data_dir))
    for args in (["status"], ["query", "SELECT 1 AS x"], ["kols", "list"]):
        out = CliRunner().invoke(main, args).output
        assert "holds simulated data" in out, args
    # The report an analyst may mail says so on every page, and so does the UI's metadata.
    assert env.engagement().success
    assert "Simulated data" in (env.data_dir / "reports" / "index.html").read_text(encoding="utf-8")
    kol_page = next((env.data_dir / "reports" / "kol").glob("*.html"))
    assert "Simulated data" in kol_page.read_text(encoding="utf-8")
    event = env.instance.get_latest_materialization_event(dg.AssetKey("kol_report"))
    assert event is not None and event.asset_materialization.metadata["simulated_data"].value is True


def test_a_report_of_real_data_carries_no_simulated_notice(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 9})  # a token: the source is "the API at <url>"
    env.refresh(["kol_a"])
    assert env.engagement().success
    assert "Simulated data" not in (env.data_dir / "reports" / "index.html").read_text(encoding="utf-8")


# -- pgy query writes nothing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH '{working}' AS w (READ_WRITE); DROP TABLE w.notes",
        "ATTACH '{working}' AS w",
        "COPY (SELECT * FROM notes) TO '{out}'",
        "COPY notes TO '{out}' (FORMAT parquet)",
        "EXPORT DATABASE '{outdir}'",
        "SELECT * FROM read_csv('{roster}')",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "DROP TABLE notes",
        "DELETE FROM notes",
        "INSTALL httpfs",
        "LOAD httpfs",
    ],
)
def test_pgy_query_can_only_read_the_snapshot(refreshed, tmp_path, sql):
    working = refreshed.data_dir / ".state" / "warehouse.duckdb"
    out, outdir = tmp_path / "leak.csv", tmp_path / "leakdir"
    statement = sql.format(working=working, out=out, outdir=outdir, roster=refreshed.data_dir / "kols.csv")
    result = CliRunner().invoke(main, ["query", statement])
    assert result.exit_code == 1, result.output
    assert not out.exists() and not outdir.exists()
    with duckdb.connect(str(working), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (29,)
    with refreshed.db() as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (29,)


def test_pgy_query_output_options_still_write_files(refreshed, tmp_path):
    csv = CliRunner().invoke(main, ["query", "SELECT count(*) AS n FROM notes", "--format", "csv"])
    assert csv.exit_code == 0 and csv.output == "n\n29\n"  # no trailing blank line
    target = tmp_path / "n.parquet"
    pq = CliRunner().invoke(
        main, ["query", "SELECT * FROM notes", "--format", "parquet", "--output", str(target)]
    )
    assert pq.exit_code == 0 and duckdb.sql(f"SELECT count(*) FROM '{target}'").fetchone() == (29,)


# -- one-off refreshes stay one-off ----------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    sim = Simulator("clean", seed=3, anchor_date=ANCHOR, fixed_counts={"kol_a": 9, "kol_z": 12})
    sim.start()
    data = tmp_path / "data"
    data.mkdir()
    (data / "kols.csv").write_text("user_id,label\nkol_a,甲\n", encoding="utf-8")
    monkeypatch.setenv("PGY_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JUSTONEAPI_BASE_URL", sim.base_url)
    monkeypatch.delenv("JUSTONEAPI_TOKEN", raising=False)
    yield data
    sim.stop()


def _partitions(tmp_path: Path) -> list[str]:
    with instance_at(tmp_path / "home") as instance:
        return list(instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME))


def test_a_refresh_of_a_kol_off_the_roster_stays_one_off(cli_env, tmp_path):
    result = CliRunner().invoke(main, ["refresh", "kol_z", "--no-engagement"])
    assert result.exit_code == 0, result.output
    assert "One-off" in result.output and "kol_z" in result.output
    assert "The daily schedule refreshes the 1 KOL(s)" in result.output
    assert load_roster(cli_env / "kols.csv").user_ids == ["kol_a"]
    assert "kol_z" not in _partitions(tmp_path)  # the schedule's range never sees it
    assert PipelineState(cli_env).one_off() == set()
    with duckdb.connect(str(cli_env / "pgy.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM notes WHERE user_id = 'kol_z'").fetchone() == (12,)

    tracked = CliRunner().invoke(main, ["refresh", "kol_z", "--track", "--no-engagement"])
    assert tracked.exit_code == 0, tracked.output
    assert load_roster(cli_env / "kols.csv").user_ids == ["kol_a", "kol_z"]
    assert "kol_z" in _partitions(tmp_path)


def test_the_roster_sensor_never_copies_a_one_off_kol_into_the_roster(cli_env, tmp_path):
    from pgy_pipeline.defs.resources import PgyResource

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(KOLS_PARTITIONS_NAME, ["kol_a"])
        pgy = PgyResource(data_dir=str(cli_env))
        first = kol_roster_sensor(dg.build_sensor_context(instance=instance, resources={"pgy": pgy}))
        assert isinstance(first, dg.SensorResult)
        PipelineState(cli_env).mark_one_off(["kol_z"])
        instance.add_dynamic_partitions(KOLS_PARTITIONS_NAME, ["kol_z"])  # while its run lasts
        ctx = dg.build_sensor_context(instance=instance, cursor=first.cursor, resources={"pgy": pgy})
        kol_roster_sensor(ctx)
    assert load_roster(cli_env / "kols.csv").user_ids == ["kol_a"]


# -- a fresh DAGSTER_HOME used by several processes at once ---------------------------------------------

_FIRST_USE = """
import os, sys, time
from pgy_pipeline.cli.runner import get_instance
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
get_instance().dispose()
"""


@pytest.mark.timeout(300)
def test_processes_starting_together_on_a_fresh_dagster_home_do_not_race(tmp_path):
    """Without the lock, 8 processes released at once fail in most rounds (alembic_version races)."""
    for round_ in range(2):
        base = tmp_path / f"round{round_}"
        env = {**os.environ, "DAGSTER_HOME": str(base / "home"), "PGY_DATA_DIR": str(base / "data")}
        base.mkdir()
        go = base / "go"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _FIRST_USE, str(base / f"ready{i}"), str(go)],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for i in range(8)
        ]
        deadline = time.monotonic() + 120
        while len(list(base.glob("ready*"))) < len(procs) and time.monotonic() < deadline:
            time.sleep(0.05)  # each imports Dagster, then waits for the others
        go.touch()
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0] * len(procs), "\n".join(outputs)[-3000:]


# -- analysts' own data survives ---------------------------------------------------------------------

PRICES = (
    "user_id,price_type,price,currency,valid_from,valid_to,note\n"
    "kol_a,video_note,12000.50,CNY,2026-01-01,,agency quote 报价\n"
    "kol_a,photo_note,8000,,2026-01-01,2026-12-31,\n"
)


def test_a_price_survives_three_refreshes(make_env: MakeEnv, monkeypatch, tmp_path):
    env = make_env(fixed_counts={"kol_a": 9})
    env.refresh(["kol_a"])
    source = tmp_path / "prices.csv"
    source.write_text(PRICES, encoding="utf-8")
    monkeypatch.setenv("PGY_DATA_DIR", str(env.data_dir))
    imported = CliRunner().invoke(main, ["prices", "import", str(source)])
    assert imported.exit_code == 0, imported.output
    for _ in range(3):
        assert all(r.success for r in env.refresh(["kol_a"]))
        env.engagement()
        with env.db() as conn:
            rows = conn.execute(
                "SELECT price_type, CAST(price AS VARCHAR), currency, note FROM kol_prices ORDER BY price_type"
            ).fetchall()
        assert rows == [
            ("photo_note", "8000.00", "CNY", None),
            ("video_note", "12000.50", "CNY", "agency quote 报价"),
        ]


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("kol_a,video_note,abc,CNY,2026-01-01,,", "line 2: price 'abc' is not a number"),
        ("kol_a,video_note,-1,CNY,2026-01-01,,", "line 2: price '-1' must be between"),
        ("kol_a,video_note,10,CNY,2026-13-01,,", "line 2, valid_from: '2026-13-01' is not a YYYY-MM-DD date"),
        ("kol_a,,10,CNY,2026-01-01,,", "line 2: price_type is empty"),
        ("../etc,video_note,10,CNY,2026-01-01,,", "line 2: user_id '../etc' is not"),
        ("kol_a,video_note,10,CNY,2026-02-01,2026-01-01,", "valid_to 2026-01-01 is before valid_from"),
    ],
)
def test_a_bad_prices_file_imports_nothing_and_names_the_line(tmp_path, monkeypatch, line, named):
    monkeypatch.setenv("PGY_DATA_DIR", str(tmp_path / "data"))
    source = tmp_path / "prices.csv"
    source.write_text("user_id,price_type,price,currency,valid_from,valid_to,note\n" + line + "\n")
    result = CliRunner().invoke(main, ["prices", "import", str(source)])
    assert result.exit_code == 1 and named in result.output, result.output
    assert not (tmp_path / "data" / "kol_prices.csv").exists()


def test_every_window_of_the_views_ends_today_in_shanghai(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 9})
    env.refresh(["kol_a"])
    with env.db() as conn:
        # A connection far from Shanghai: current_date would be another day most of the time.
        conn.execute("SET TimeZone = 'Etc/GMT+12'")
        shanghai = conn.execute("SELECT CAST(timezone('Asia/Shanghai', now()) AS DATE)").fetchone()[0]
        assert conn.execute("SELECT pgy_today()").fetchone()[0] == shanghai
        views = conn.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'"
        ).fetchall()
    assert views
    for name, sql in views:
        assert "current_date" not in sql.lower() and "now()" not in sql.lower(), name


def test_an_instance_whose_first_use_was_killed_half_way_is_completed(tmp_path, monkeypatch):
    """A SIGKILL while Dagster creates its tables leaves some missing; the next process must not fail."""
    import sqlite3

    from pgy_pipeline.cli.runner import get_instance

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PGY_DATA_DIR", str(tmp_path / "data"))
    get_instance().dispose()
    index = tmp_path / "home" / "history" / "runs" / "index.db"
    with sqlite3.connect(index) as conn:
        conn.execute("DROP TABLE dynamic_partitions")
    instance = get_instance()
    instance.add_dynamic_partitions(KOLS_PARTITIONS_NAME, ["kol_a"])
    assert instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME) == ["kol_a"]
    instance.dispose()


def test_a_table_an_analyst_wrote_into_pgy_duckdb_is_kept_and_the_run_says_where(
    make_env: MakeEnv, monkeypatch
):
    env = make_env(fixed_counts={"kol_a": 12})
    env.refresh(["kol_a"])
    published = env.data_dir / "pgy.duckdb"
    with duckdb.connect(str(published)) as analyst:  # read-write, against the advice (root may)
        analyst.execute("CREATE TABLE my_shortlist AS SELECT 'kol_a' AS user_id, 'great fit' AS why")
    env.sim.update(fixed_counts={"kol_a": 13})
    [run] = env.refresh(["kol_a"])
    assert run.success
    warnings = [
        e.message
        for e in env.instance.all_logs(run.run_id)
        if e.level == logging.WARNING and "written outside the pipeline" in (e.message or "")
    ]
    assert len(warnings) == 1, warnings
    [kept] = (env.data_dir / "edited").glob("*.duckdb")
    assert str(kept) in warnings[0] and "ATTACH" in warnings[0]
    with duckdb.connect(str(kept), read_only=True) as conn:  # the analyst's table is not lost
        assert conn.execute("SELECT why FROM my_shortlist").fetchall() == [("great fit",)]
    with env.db() as conn:  # and readers see the fresh data
        assert conn.execute("SELECT count(*) FROM notes WHERE user_id = 'kol_a'").fetchone() == (13,)
    monkeypatch.setenv("PGY_DATA_DIR", str(env.data_dir))
    status = CliRunner().invoke(main, ["status"])
    assert status.exit_code == 0 and "written outside the pipeline 1 time(s)" in status.output
    assert str(kept) in status.output
