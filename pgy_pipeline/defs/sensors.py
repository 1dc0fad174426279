"""Sensors: keep the KOL partitions in step with the roster file, and retry failed KOLs."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from pgy_pipeline.defs.alerts import alert_given_up
from pgy_pipeline.defs.jobs import REFRESH_JOB_NAME, refresh_job
from pgy_pipeline.defs.partitions import (
    KOLS_PARTITIONS_NAME,
    KOLS_TAG,
    kol_partitions,
    kols_tag,
    range_tags,
    roster_labels,
)
from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.defs.tags import TRIGGER_TAG, RetryTags
from pgy_pipeline.roster import Kol, load_roster, plan_sync, save_roster
from pgy_pipeline.warehouse.state import KolFailure


def first_refresh_run_key(added: Sequence[str], last_tick: float | None) -> str:
    """The key of the first refresh of the KOLs a roster tick added.

    The daemon launches one run per run key and sensor, ever (see ``retry_run_key``), and a KOL
    removed from the roster and added back is added again alone: (first, last, count) would
    repeat the key of its first addition, and its refresh would be skipped. The previous tick's
    time tells additions apart, and stays the same if the daemon evaluates this tick again
    after a crash, so a run is still never launched twice for one addition.
    """
    when = f"{last_tick:.6f}" if last_tick is not None else datetime.now(UTC).isoformat()
    return f"first-refresh:{added[0]}:{added[-1]}:{len(added)}:after:{when}"


@dg.sensor(
    name="kol_roster_sensor",
    job=refresh_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Keeps the `kols` partitions and data/kols.csv in step (a KOL added or removed on either side is "
        "added or removed on the other) and launches the first refresh of new KOLs. Bad roster lines are "
        "reported by line number and skipped."
    ),
)
def kol_roster_sensor(
    context: dg.SensorEvaluationContext, pgy: PgyResource
) -> dg.SensorResult | dg.SkipReason:
    roster = load_roster(pgy.roster_path)
    for problem in roster.problems:
        context.log.warning("%s: %s", pgy.roster_path, problem)
    base = json.loads(context.cursor) if context.cursor else []
    # A KOL fetched once (`pgy refresh ID` of a KOL not on the roster) has a partition only
    # while its run lasts: it must not join the roster, or the schedule would buy it daily.
    one_off = pgy.state().one_off()
    partitions = [
        u for u in context.instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME) if u not in one_off
    ]
    plan = plan_sync(base, roster.user_ids, partitions)
    if plan.add_to_file or plan.remove_from_file:
        drop = set(plan.remove_from_file)
        kept = [k for k in roster.kols if k.user_id not in drop]
        save_roster(pgy.roster_path, kept + [Kol(u) for u in plan.add_to_file])
    synced = [u for u in partitions if u not in plan.delete_partitions] + list(plan.add_partitions)
    cursor = json.dumps(sorted(synced))
    if plan.empty:
        msg = f"roster in sync ({len(synced)} KOLs)"
        if roster.problems:
            msg += f"; {len(roster.problems)} bad roster line(s): {'; '.join(map(str, roster.problems[:5]))}"
        return dg.SensorResult(skip_reason=dg.SkipReason(msg), cursor=cursor)
    requests: list[dg.DynamicPartitionsRequest] = []
    if plan.add_partitions:
        requests.append(kol_partitions.build_add_request(list(plan.add_partitions)))
    if plan.delete_partitions:
        # History stays: rows in DuckDB and raw pages are never deleted with a partition.
        requests.append(kol_partitions.build_delete_request(list(plan.delete_partitions)))
    runs = []
    if plan.add_partitions:
        first, last = plan.add_partitions[0], plan.add_partitions[-1]
        # New keys are appended to the partition order, so they form one contiguous range.
        runs.append(
            dg.RunRequest(
                run_key=first_refresh_run_key(plan.add_partitions, context.last_tick_completion_time),
                tags={
                    **range_tags(first, last),
                    **kols_tag(plan.add_partitions, roster.labels),
                    TRIGGER_TAG: "roster",
                },
            )
        )
    if plan.add_to_file:
        context.log.info(
            "added to %s, so refreshed daily from now on: %s", pgy.roster_path, ", ".join(plan.add_to_file)
        )
    context.log.info(
        "roster sync: +%d -%d partitions, +%d -%d file lines",
        len(plan.add_partitions),
        len(plan.delete_partitions),
        len(plan.add_to_file),
        len(plan.remove_from_file),
    )
    return dg.SensorResult(run_requests=runs, dynamic_partitions_requests=requests, cursor=cursor)


RETRY_SENSOR_NAME = "kol_retry_sensor"


def retry_run_key(failure: KolFailure) -> str:
    """One key per (KOL, failure episode, attempt): a tick that sees the same failure again launches nothing.

    Dagster's sensor daemon launches at most one run per run key and sensor, ever: before
    creating a run it looks up the runs tagged with the request's ``dagster/run_key`` and this
    sensor's ``dagster/sensor_name`` and skips the request when one exists, whatever its age or
    status (``fetch_existing_runs`` and ``_get_or_create_sensor_run`` in
    ``dagster/_daemon/sensor.py``). Attempts count from 1 again when a KOL has recovered, so a
    key of (KOL, attempt) alone would name the first episode's retries for ever, and every later
    episode's retries would be skipped without a word; the episode number never repeats.
    """
    return f"retry:{failure.user_id}:{failure.episode}:{failure.attempts}"


def _retry_tick(context: dg.SensorEvaluationContext, pgy: PgyResource) -> dg.SensorResult | dg.SkipReason:
    state = pgy.state()
    # Before the stop check: a KOL given up on is news during a stop too.
    failures = state.failures()
    alert_given_up(pgy, failures, context.log)
    stop = state.active_stop()
    if stop:
        return dg.SkipReason(f"calls stopped until {stop[1].isoformat()}: {stop[2]}")
    partitions = set(context.instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME))
    due = [f for f in state.due_retries() if f.user_id in partitions]
    gave_up = [f for f in failures if f.gave_up]
    if not due:
        waiting = [f for f in failures if not f.gave_up]
        msg = f"no retry due ({len(waiting)} waiting for cooldown, {len(gave_up)} given up"
        if gave_up:
            msg += ": " + ", ".join(
                f"{f.user_id} after {f.attempts} attempt(s), {f.error_kind} {f.code}" for f in gave_up[:5]
            )
        return dg.SkipReason(msg + ")")
    labels = roster_labels(pgy.roster_path)
    runs = []
    for f in due:
        # auto: a retry is as incremental as the daily run it repeats (full when the rota says so).
        config = {"ops": {"kol_notes": {"config": {**json.loads(f.filters or "{}"), "mode": "auto"}}}}
        runs.append(
            dg.RunRequest(
                run_key=retry_run_key(f),
                partition_key=f.user_id,
                run_config=config,
                tags={
                    **kols_tag([f.user_id], labels),
                    TRIGGER_TAG: "retry",
                    **RetryTags(f.attempts + 1, f.episode, str(f.code)).encode(),
                },
            )
        )
    context.log.info("retrying %d KOL(s): %s", len(runs), ", ".join(r.tags[KOLS_TAG] for r in runs))
    return dg.SensorResult(run_requests=runs)


def build_retry_sensor(minimum_interval_seconds: int = 60) -> dg.SensorDefinition:
    """The retry sensor; the daemon evaluates it at most once per ``minimum_interval_seconds``."""

    @dg.sensor(
        name=RETRY_SENSOR_NAME,
        job=refresh_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Re-launches KOLs whose fetch failed with a retry-here outcome (301, 500, timeouts, rate "
            "limits) after an increasing cooldown, up to a maximum number of attempts, once per failure "
            "episode and attempt; a retry buys only the pages the failed attempt did not store. Stops "
            "(token 100, quota 303, balance 601, budget) and rejected requests (400, 600, unknown codes) "
            "are never retried."
        ),
    )
    def kol_retry_sensor(
        context: dg.SensorEvaluationContext, pgy: PgyResource
    ) -> dg.SensorResult | dg.SkipReason:
        return _retry_tick(context, pgy)

    return kol_retry_sensor


kol_retry_sensor = build_retry_sensor()


__all__ = [
    "REFRESH_JOB_NAME",
    "RETRY_SENSOR_NAME",
    "build_retry_sensor",
    "first_refresh_run_key",
    "kol_retry_sensor",
    "kol_roster_sensor",
    "retry_run_key",
]
