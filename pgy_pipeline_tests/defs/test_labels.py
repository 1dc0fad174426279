"""KOLs by name in the Dagster UI: partition keys stay user ids, runs of a few KOLs carry their labels.

Every way a refresh run starts (pgy refresh, the roster sensor, the retry sensor, the daily
schedule) tags it `pgy/kols`: "label (user_id), ..." for up to five KOLs, the count beyond.
"""

from __future__ import annotations

import dagster as dg

from pgy_pipeline.defs.partitions import KOLS_TAG, kols_tag
from pgy_pipeline.defs.schedules import build_daily_refresh_schedule
from pgy_pipeline.defs.sensors import kol_retry_sensor, kol_roster_sensor
from pgy_pipeline_tests.support import MakeEnv, tick_schedule

LABELS = {"kol_a": "厨房小白", "kol_b": "穿搭日记Coco", "kol_c": None}


def _roster(env, kols: dict[str, str | None]) -> None:
    lines = [f"{u},{label or ''}" for u, label in kols.items()]
    (env.data_dir / "kols.csv").write_text("user_id,label\n" + "\n".join(lines) + "\n", encoding="utf-8")


def test_kols_tag_names_a_few_kols_and_counts_many():
    assert kols_tag(list(LABELS), LABELS) == {KOLS_TAG: "厨房小白 (kol_a), 穿搭日记Coco (kol_b), kol_c"}
    many = [f"kol_{i}" for i in range(6)]
    assert kols_tag(many, {}) == {KOLS_TAG: "6 KOLs"}


def test_a_cli_refresh_run_is_tagged_with_its_kols_labels(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 3, "kol_b": 0, "kol_c": 9}, user_codes={"kol_c": 600})
    _roster(env, LABELS)
    (run,) = env.refresh(list(LABELS))
    assert run.tags[KOLS_TAG] == "厨房小白 (kol_a), 穿搭日记Coco (kol_b), kol_c"
    # The failure table of the run shows each failed KOL by label and id.
    records = env.instance.get_records_for_run(run.run_id).records
    failure = next(
        r.event_log_entry.dagster_event
        for r in records
        if r.event_log_entry.is_dagster_event and r.event_log_entry.dagster_event.is_step_failure
    )
    table = str(failure.step_failure_data.user_failure_data.metadata["failed_kols"].value)
    assert "label" in table and "user_id" in table and "kol_c" in table


def test_sensor_and_schedule_runs_name_their_kols(make_env: MakeEnv):
    env = make_env(
        fixed_counts={"kol_a": 3, "kol_b": 3}, user_codes={"kol_b": 301}, pgy={"retry_cooldown_s": 0.0}
    )
    _roster(env, {"kol_a": LABELS["kol_a"], "kol_b": LABELS["kol_b"]})
    roster_tick = kol_roster_sensor(
        dg.build_sensor_context(instance=env.instance, resources={"pgy": env.pgy})
    )
    assert isinstance(roster_tick, dg.SensorResult)
    (first,) = roster_tick.run_requests or []
    assert first.tags[KOLS_TAG] == "厨房小白 (kol_a), 穿搭日记Coco (kol_b)"

    env.refresh(["kol_a", "kol_b"])  # kol_b fails with 301: the retry sensor takes it
    retry_tick = kol_retry_sensor(dg.build_sensor_context(instance=env.instance, resources={"pgy": env.pgy}))
    assert isinstance(retry_tick, dg.SensorResult)
    (retry,) = retry_tick.run_requests or []
    assert retry.tags[KOLS_TAG] == "穿搭日记Coco (kol_b)"

    schedule = build_daily_refresh_schedule()
    tick = tick_schedule(schedule, env)
    assert tick.run_requests[0].tags[KOLS_TAG] == "厨房小白 (kol_a), 穿搭日记Coco (kol_b)"
    env.add_kols([f"kol_{i}" for i in range(4)])
    tick = tick_schedule(schedule, env)
    assert tick.run_requests[0].tags[KOLS_TAG] == "6 KOLs"
