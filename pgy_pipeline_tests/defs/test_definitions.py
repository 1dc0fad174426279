"""Definitions, the roster sensor, the schedule and the asset checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pgy_pipeline.defs.checks import (
    notes_fields_readable,
    notes_match_reported_total,
    notes_metrics_non_negative,
    notes_unique_per_kol,
)
from pgy_pipeline.defs.definitions import build_defs
from pgy_pipeline.defs.partitions import KOLS_PARTITIONS_NAME, contiguous_ranges
from pgy_pipeline.defs.schedules import build_daily_refresh_schedule
from pgy_pipeline.defs.sensors import kol_roster_sensor
from pgy_pipeline.roster import load_roster
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.migrations import migrate
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.support import MakeEnv, tick_schedule

REPO = Path(__file__).resolve().parents[2]


def test_definitions_load_and_validate_in_process():
    defs = build_defs()
    dg.Definitions.validate_loadable(defs)
    assert {j.name for j in defs.jobs} == {"refresh_kols", "refresh_engagement", "lake_upkeep"}
    assert {s.name for s in defs.schedules} == {"daily_refresh", "weekly_lake_upkeep"}
    assets = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert assets == {"note_pages", "notes", "note_engagement", "kol_engagement", "kol_report"}


def test_dagster_definitions_validate_command_passes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JUSTONEAPI_TOKEN"}
    env["DAGSTER_HOME"] = str(tmp_path)
    out = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation successful" in out.stdout + out.stderr


def test_the_token_is_never_configuration_but_resolved_where_the_run_executes(monkeypatch):
    monkeypatch.setenv("JUSTONEAPI_TOKEN", "tok-never-in-config-123")
    api = build_defs().resources["api"]
    assert api.token is None
    assert "tok-never-in-config-123" not in repr(api)
    assert "tok-never-in-config-123" not in repr(api.source())
    # Definitions loaded without the token (a code server) still call the API where the run
    # gets it: nothing about the source is decided when the code location loads.
    monkeypatch.delenv("JUSTONEAPI_TOKEN")
    api = build_defs().resources["api"]
    assert api.source().simulated
    monkeypatch.setenv("JUSTONEAPI_TOKEN", "tok-never-in-config-123")
    assert not api.source().simulated


def test_contiguous_ranges_cover_scattered_kols_with_few_runs():
    keys = ["a", "b", "c", "d", "e"]
    assert contiguous_ranges(["a", "b", "c", "d", "e"], keys) == [("a", "e")]
    assert contiguous_ranges(["b", "d", "e"], keys) == [("b", "b"), ("d", "e")]
    with pytest.raises(ValueError, match="not KOL partitions: zz"):
        contiguous_ranges(["zz"], keys)


def _rostertick_schedule(instance, pgy, cursor=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"pgy": pgy})
    return kol_roster_sensor(ctx)


def test_roster_sensor_adds_new_kols_and_launches_their_first_refresh(make_env: MakeEnv):
    env = make_env()
    (env.data_dir / "kols.csv").write_text(
        "user_id,label\nkol_a,Alice\n\nkol_b,鲍勃\nbad/../id,x\nkol_a,dup\nkol_c\n", encoding="utf-8"
    )
    result = _rostertick_schedule(env.instance, env.pgy)
    assert isinstance(result, dg.SensorResult)
    adds = [r for r in result.dynamic_partitions_requests if isinstance(r, dg.AddDynamicPartitionsRequest)]
    assert adds and list(adds[0].partition_keys) == ["kol_a", "kol_b", "kol_c"]
    run = result.run_requests[0]
    assert run.tags["dagster/asset_partition_range_start"] == "kol_a"
    assert run.tags["dagster/asset_partition_range_end"] == "kol_c"
    assert json.loads(result.cursor) == ["kol_a", "kol_b", "kol_c"]


def test_roster_sensor_syncs_both_ways_and_a_removed_kol_keeps_its_history(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 9, "kol_b": 9})
    roster = env.data_dir / "kols.csv"
    roster.write_text("user_id,label\nkol_a,A\nkol_b,B\n", encoding="utf-8")
    env.add_kols(["kol_a", "kol_b"])
    env.refresh(["kol_a", "kol_b"])
    cursor = json.dumps(["kol_a", "kol_b"])
    # Removed from the file -> partition deleted; added in the UI -> appended to the file.
    roster.write_text("user_id,label\nkol_a,A\n", encoding="utf-8")
    env.instance.add_dynamic_partitions(KOLS_PARTITIONS_NAME, ["kol_ui"])
    result = _rostertick_schedule(env.instance, env.pgy, cursor)
    deletes = [
        r for r in result.dynamic_partitions_requests if isinstance(r, dg.DeleteDynamicPartitionsRequest)
    ]
    assert deletes and list(deletes[0].partition_keys) == ["kol_b"]
    assert load_roster(roster).user_ids == ["kol_a", "kol_ui"]
    assert json.loads(result.cursor) == ["kol_a", "kol_ui"]
    env.instance.delete_dynamic_partition(KOLS_PARTITIONS_NAME, "kol_b")
    with env.db() as conn:
        assert conn.execute("SELECT count(*) FROM notes WHERE user_id = 'kol_b'").fetchone()[0] == 9
    quiet = _rostertick_schedule(env.instance, env.pgy, result.cursor)
    assert quiet.skip_reason is not None or not quiet.run_requests


def test_schedule_refreshes_every_roster_kol_in_one_run(make_env: MakeEnv):
    env = make_env()
    schedule = build_daily_refresh_schedule()
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "Asia/Shanghai"
    empty = tick_schedule(schedule, env)
    assert empty.skip_message and "roster is empty" in empty.skip_message
    env.add_kols(["k1", "k2", "k3"])
    data = tick_schedule(schedule, env)
    (req,) = data.run_requests
    assert req.tags["dagster/asset_partition_range_start"] == "k1"
    assert req.tags["dagster/asset_partition_range_end"] == "k3"
    assert req.run_key and "2026-11-26" in req.run_key


def test_a_schedule_tick_during_a_one_off_refresh_leaves_that_kol_out(make_env: MakeEnv):
    env = make_env()
    env.add_kols(["k1", "k2"])
    # `pgy refresh kol_z` of a KOL off the roster: its partition exists while its run lasts ...
    PipelineState(env.data_dir).mark_one_off(["kol_z"])
    env.add_kols(["kol_z"])
    # ... and the roster sensor appends a new roster KOL after it meanwhile.
    env.add_kols(["k3"])
    data = tick_schedule(build_daily_refresh_schedule(), env)
    ranges = [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in data.run_requests
    ]
    assert ranges == [("k1", "k2"), ("k3", "k3")]
    assert len({r.run_key for r in data.run_requests}) == 2
    assert all("kol_z" not in r.tags["pgy/kols"] for r in data.run_requests)


def test_a_configured_schedule_keeps_its_cron_and_timezone():
    s = build_daily_refresh_schedule("30 2 * * *", "UTC")
    assert s.cron_schedule == "30 2 * * *" and s.execution_timezone == "UTC"


def _check(fn, pgy, instance=None):
    with pgy.warehouse().read_working() as conn:
        return fn(conn, instance or dg.DagsterInstance.ephemeral())


def test_checks_pass_on_good_data_and_fail_on_bad(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 20})
    env.refresh(["kol_a"])
    assert _check(notes_metrics_non_negative, env.pgy).passed
    assert _check(notes_match_reported_total, env.pgy).passed
    with Warehouse(env.data_dir).write() as conn:
        conn.execute("UPDATE notes SET read_num = -5 WHERE note_id = (SELECT min(note_id) FROM notes)")
        conn.execute("UPDATE notes SET gone_at = now() WHERE note_id IN (SELECT note_id FROM notes LIMIT 5)")
    bad = _check(notes_metrics_non_negative, env.pgy)
    assert not bad.passed and bad.metadata["negative_rows"].value == 1
    off = _check(notes_match_reported_total, env.pgy)
    assert not off.passed and off.metadata["kols_off"].value == 1


def test_a_slow_rise_of_nulls_below_drift_warns_against_the_kols_own_history(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 40, "kol_b": 24})
    env.refresh(["kol_a", "kol_b"])
    assert _check(notes_fields_readable, env.pgy).passed
    # The vendor starts leaving collects and third-party reads null on ~40% of notes: fewer than the
    # half of a page that would be drift, so the fetch is written, and the check says so.
    env.sim.update(null_metric_share=0.8)
    assert env.refresh(["kol_a", "kol_b"])[0].success
    result = _check(notes_fields_readable, env.pgy)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert set(result.metadata["fields_risen"].value.split(", ")) == {"collectNum", "thirdReadUserNum"}


def test_uniqueness_check_fails_on_a_table_without_its_key(tmp_path):
    from pgy_pipeline.defs.resources import PgyResource

    state = tmp_path / ".state"
    state.mkdir()
    conn = duckdb.connect(str(state / "warehouse.duckdb"))
    # A damaged table: same columns, no primary key (as a bad manual restore would leave it).
    conn.execute(
        "CREATE TABLE notes (user_id VARCHAR, note_id VARCHAR, title VARCHAR, publish_date DATE, is_video BOOLEAN, "
        "is_advertise BOOLEAN, brand_name VARCHAR, img_url VARCHAR, read_num BIGINT, like_num BIGINT, "
        "collect_num BIGINT, third_read_user_num BIGINT, first_seen_at TIMESTAMPTZ, last_seen_at TIMESTAMPTZ, "
        "gone_at TIMESTAMPTZ, last_fetch_id VARCHAR)"
    )
    migrate(conn)
    conn.execute("INSERT INTO notes (user_id, note_id) VALUES ('u', 'n'), ('u', 'n'), ('u', 'm')")
    conn.close()
    result = _check(notes_unique_per_kol, PgyResource(data_dir=str(tmp_path)))
    assert not result.passed and result.metadata["duplicate_keys"].value == 1


def test_each_kols_notes_materialisation_says_what_its_write_did(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 20})
    env.refresh(["kol_a"])
    event = env.instance.get_latest_materialization_event(dg.AssetKey("notes"))
    assert event is not None and event.asset_materialization.partition == "kol_a"
    md = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert md["notes"] == md["notes_new"] == 20
    assert md["marked_gone"] == md["notes_revived"] == md["null_metrics"] == md["dates_unreadable"] == 0
    assert md["complete"] is True and md["fetch_kind"] == "full"


def test_roster_categories_survive_the_sensor_rewriting_the_file_and_reach_the_warehouse(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 3, "kol_b": 3})
    roster = env.data_dir / "kols.csv"
    roster.write_text("user_id,label,category\nkol_a,A,美食\nkol_b,,beauty\n", encoding="utf-8")
    env.add_kols(["kol_a", "kol_b"])
    env.instance.add_dynamic_partitions(KOLS_PARTITIONS_NAME, ["kol_ui"])
    _rostertick_schedule(env.instance, env.pgy, json.dumps(["kol_a", "kol_b"]))
    assert (
        roster.read_text(encoding="utf-8")
        == "user_id,label,category\nkol_a,A,美食\nkol_b,,beauty\nkol_ui,,\n"
    )
    assert all(r.success for r in env.refresh(["kol_a", "kol_b"]))
    with env.db() as conn:
        rows = conn.execute("SELECT user_id, label, category FROM kols ORDER BY user_id").fetchall()
    assert rows == [("kol_a", "A", "美食"), ("kol_b", None, "beauty"), ("kol_ui", None, None)]
