"""The vendor changes the shape of its answers: drift writes nothing, says what changed, alerts once.

End to end: a warehouse filled from the simulator, then a refresh after the answers changed (a
simulator override per drift), through real Dagster, real HTTP and a real DuckDB file.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner

from pgy_pipeline.defs.alerts import ALERT_SENSOR_NAME, pgy_alert_on_run_failure
from pgy_pipeline.defs.sensors import kol_retry_sensor
from pgy_pipeline.justoneapi.drift import DRIFT_STOP_KOLS
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.alerts.conftest import Receiver, receiver  # noqa: F401 (a fixture)
from pgy_pipeline_tests.support import MakeEnv, expected_frame, stored_frame

KOLS = {"kol_a": 20, "kol_b": 9, "kol_c": 14}
DRIFTS: dict[str, tuple[dict[str, Any], str]] = {
    "metric_renamed": (
        {"rename_fields": {"readNum": "readCount"}},
        "readNum missing on 8 of 8 notes; new field readCount (e.g. ",
    ),
    "metrics_nested": (
        {"nest_metrics": "metrics"},
        'readNum, likeNum, collectNum missing on 8 of 8 notes; new field metrics (e.g. {"readNum": ',
    ),
    "date_epoch_ms": (
        {"date_format": "epoch_ms"},
        "date unreadable on 8 of 8 notes (expected a YYYY-MM-DD date, got e.g. 17",
    ),
    "list_renamed": (
        {"list_key": "notes"},
        "data.list missing: data holds notes (a list of 8), total (e.g. ",
    ),
}


def _stored(env: Any) -> dict[str, list[tuple[Any, ...]]]:
    with env.db() as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("notes", "note_snapshots")
        }


@pytest.fixture
def filled(make_env: Any) -> Any:
    env = make_env(fixed_counts=KOLS)
    assert env.refresh(list(KOLS))[0].success
    return env


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_a_drift_leaves_every_stored_value_unchanged_and_says_in_one_line_what_changed(filled, drift):
    overrides, said = DRIFTS[drift]
    before = _stored(filled)
    filled.sim.update(**overrides)
    (run,) = filled.refresh(list(KOLS))
    assert not run.success
    first_line = run.failure or ""
    assert first_line.startswith("The API's answers changed shape (schema drift): ")
    assert said in first_line and "\n" not in first_line
    assert "check the user id or permissions" not in first_line
    assert _stored(filled) == before  # no note, snapshot or publish_date touched
    with filled.db() as conn:
        kinds = conn.execute(
            "SELECT DISTINCT status, error_kind FROM fetches WHERE run_id = ?", [run.run_id]
        ).fetchall()
    assert kinds == [("failed", "schema")]
    failure = PipelineState(filled.data_dir).failure("kol_a")
    assert failure is not None and failure.error_kind == "schema" and failure.gave_up  # not retried blindly


def test_the_raw_pages_of_a_drifted_fetch_are_kept_unsealed_for_a_replay(filled):
    filled.sim.update(rename_fields={"readNum": "readCount"})
    filled.refresh(["kol_a"])
    raw = filled.data_dir / "raw" / "kol_a"
    (drifted,) = [f for f in raw.glob("*.jsonl") if '"readCount":' in f.read_text()]
    # Not sealed as done: its row says why it failed, and a replay finds it.
    assert not drifted.with_suffix(".done.json").exists()
    row = json.loads(drifted.with_suffix(".failed.json").read_text())
    assert (row["status"], row["error_kind"]) == ("failed", "schema")


def test_one_alert_per_drift_not_per_kol_or_run(make_env: MakeEnv, receiver: Receiver, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PGY_ALERT_WEBHOOK_URL", receiver.url)
    env = make_env(fixed_counts={f"k{i}": 12 for i in range(6)}, rename_fields={"readNum": "readCount"})
    ids = [f"k{i}" for i in range(6)]
    runs = [env.refresh(ids)[0], env.refresh(ids)[0]]
    for run in runs:  # the run-failure sensor sees both failed runs: nothing new to say
        _sensor_tick(env, run.run_id)
    assert not any(r.success for r in runs)
    (post,) = receiver.posts
    assert post["kind"] == "schema_drift" and "readNum missing on 8 of 8 notes" in post["text"]
    assert "`pgy replay`" in post["text"]


def test_a_drift_stops_the_run_from_buying_after_a_few_kols(make_env: MakeEnv):
    ids = [f"k{i:02d}" for i in range(20)]
    env = make_env(fixed_counts=dict.fromkeys(ids, 30), nest_metrics="metrics", pgy={"kol_workers": 2})
    (run,) = env.refresh(ids)
    # Each KOL's page 1 drifts; after DRIFT_STOP_KOLS of them only the calls in flight are made.
    assert env.sim.counters().calls_total <= DRIFT_STOP_KOLS + 2
    state = PipelineState(env.data_dir)
    drifted = [f.user_id for f in state.failures()]
    assert DRIFT_STOP_KOLS <= len(drifted) <= DRIFT_STOP_KOLS + 2
    assert "more not bought after it; 20 of 20 KOL(s) not refreshed" in (run.failure or "")
    tick = kol_retry_sensor(dg.build_sensor_context(instance=env.instance, resources={"pgy": env.pgy}))
    assert isinstance(tick, dg.SkipReason) or (isinstance(tick, dg.SensorResult) and not tick.run_requests)


def test_without_total_a_refresh_reads_to_the_end_and_marks_nothing_gone(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 20, "kol_b": 9}, omit_total=True)
    for _ in range(2):
        assert env.refresh(["kol_a", "kol_b"])[0].success
    with env.db() as conn:
        for kol in ("kol_a", "kol_b"):
            assert stored_frame(conn, kol) == expected_frame(env.sim, kol)
        assert conn.execute("SELECT count(*) FROM notes WHERE gone_at IS NOT NULL").fetchone() == (0,)
        reasons = conn.execute("SELECT DISTINCT stop_reason FROM fetches").fetchall()
    assert reasons == [("no_total",)]
    assert env.sim.counters().faults["no_total"] > 0


def test_replay_rebuilds_a_drifted_fetch_once_the_code_reads_its_shape(filled, monkeypatch):
    filled.sim.update(date_format="epoch_ms")
    (run,) = filled.refresh(["kol_a"])
    assert not run.success
    live = _stored(filled)
    monkeypatch.setenv("PGY_DATA_DIR", str(filled.data_dir))
    from pgy_pipeline.cli import main

    # Before the code learns the shape, a rebuild gives the live warehouse back.
    assert CliRunner().invoke(main, ["replay"]).exit_code == 0
    assert _stored(filled) == live
    # An upgrade that reads the new shape (here: one that takes it as it is) and `pgy replay`:
    monkeypatch.setattr("pgy_pipeline.justoneapi.envelope.judge_page", lambda counts: None)
    assert CliRunner().invoke(main, ["replay"]).exit_code == 0
    with Warehouse(filled.data_dir).connect_snapshot() as conn:
        row = conn.execute(
            "SELECT status, error_kind, notes_returned FROM fetches WHERE run_id = ?", [run.run_id]
        ).fetchone()
        snapshots = conn.execute(
            "SELECT count(*) FROM note_snapshots JOIN fetches USING (fetch_id) WHERE run_id = ?", [run.run_id]
        ).fetchone()
        dates = conn.execute("SELECT count(*) FROM notes WHERE publish_date IS NULL").fetchone()
    assert row == ("incomplete", "schema", 8) and snapshots == (8,)
    assert dates == (0,)  # the unreadable dates of the replayed pages overwrote nothing


def _sensor_tick(env: Any, run_id: str) -> Any:
    run = env.instance.get_run_by_id(run_id)
    records = env.instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    context = dg.build_run_status_sensor_context(
        sensor_name=ALERT_SENSOR_NAME,
        dagster_event=records[0].event_log_entry.dagster_event,
        dagster_instance=env.instance,
        dagster_run=run,
        resources={"pgy": env.pgy},
    ).for_run_failure()
    return pgy_alert_on_run_failure(context)
