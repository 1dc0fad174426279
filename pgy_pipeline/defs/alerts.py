"""Dagster glue for alerts: a run-failure sensor, and the helpers the stop and give-up paths call.

The run-failure sensor alone covers every failed run, stops included (a run that meets a stop
fails): one message per run, or one per stop for runs that failed only because calls are
stopped. The helpers let the refresh step announce a stop the moment it ends, and the retry
sensor announce a KOL it gave up on; both share dedup keys with the sensor, so nobody hears
of the same event twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import dagster as dg

from pgy_pipeline.alerts import (
    URL_VAR,
    NotifyResult,
    alert_settings,
    notify,
    notify_drift,
    notify_given_up,
    notify_stops,
    run_failure_alerts,
)
from pgy_pipeline.alerts.drift import DriftedKol
from pgy_pipeline.alerts.events import GivenUpKol, StoppedKol
from pgy_pipeline.defs import kol_tags
from pgy_pipeline.defs.partitions import roster_labels
from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.defs.tags import TRIGGER_TAG, DriftTag
from pgy_pipeline.refresh.outcomes import RETRIED_KINDS

ALERT_SENSOR_NAME = "pgy_alert_on_run_failure"


def first_failure_message(step_failures: Sequence[dg.DagsterEvent]) -> str | None:
    """The message written for people by the first failed step (as runner._first_failure reads it)."""
    for event in step_failures:
        data = event.step_failure_data
        if data is None:
            continue
        # A dagster.Failure's description is the message written for people.
        if data.user_failure_data and data.user_failure_data.description:
            return data.user_failure_data.description
        if data.error:
            error = data.error
            # Dagster wraps an error raised in the step ("Error occurred while executing op ...",
            # nothing more): the person needs the error it wraps (a full disk, say).
            while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
                error = error.cause
            return error.message.strip()
    return None


def kol_labels(pgy: PgyResource) -> dict[str, str | None]:
    """user_id -> label from the roster; an unreadable roster only costs the labels."""
    try:
        return roster_labels(pgy.roster_path)
    except Exception:
        return {}


@dg.run_failure_sensor(
    name=ALERT_SENSOR_NAME,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        f"Posts one message per failed run to the group chat webhook in {URL_VAR} (Feishu, DingTalk, "
        "WeCom, Slack or JSON: PGY_ALERT_WEBHOOK_KIND); a run that failed only because API calls are "
        "stopped (quota, balance, token, budget) gives one message per stop, not per run. Does nothing "
        f"while {URL_VAR} is unset."
    ),
)
def pgy_alert_on_run_failure(context: dg.RunFailureSensorContext, pgy: PgyResource) -> dg.SkipReason:
    run = context.dagster_run
    # Read at each evaluation: setting the variable needs a reload, not a code change. A bad
    # PGY_ALERT_WEBHOOK_KIND raises here on purpose, so the sensor's tick shows the error.
    settings = alert_settings()
    if not settings.enabled:
        msg = f"{URL_VAR} is not set: no alert for the failed run {run.run_id} of {run.job_name}"
        context.log.info(msg)
        return dg.SkipReason(msg)
    message = first_failure_message(context.get_step_failure_events()) or context.failure_event.message
    state = pgy.state()
    alerts = run_failure_alerts(
        run.run_id,
        run.job_name,
        message or "the run failed",
        kol_tags.decode(run.tags),
        labels=kol_labels(pgy),
        quota_until=state.quota_stop_until(),
        link=settings.run_link(run.run_id),
        retry_run=run.tags.get(TRIGGER_TAG) == "retry",
        drift=DriftTag.decode(run.tags),
    )
    results = [notify(alert, pgy.path, settings=settings) for alert in alerts]
    summary = ", ".join(
        f"{r.dedup_key}: {r.status}" + (f" ({r.detail})" if not r.sent else "") for r in results
    )
    context.log.info("alerts for run %s: %s", run.run_id, summary)
    return dg.SkipReason(f"alerts for run {run.run_id}: {summary}")


def alert_stops(
    pgy: PgyResource,
    outcomes: Sequence[StoppedKol],
    run_id: str | None,
    labels: dict[str, str | None] | None = None,
) -> list[NotifyResult]:
    """For ``kol_notes``: announce each stop (303/601/100/budget) the refresh met, once (never raises)."""
    if not any(o.status == "stopped" for o in outcomes):
        return []
    return notify_stops(
        outcomes, pgy.path, labels=kol_labels(pgy) if labels is None else labels, run_id=run_id
    )


def alert_drift(
    pgy: PgyResource,
    outcomes: Sequence[DriftedKol],
    run_id: str | None,
    labels: dict[str, str | None] | None = None,
) -> list[NotifyResult]:
    """For ``kol_notes``: announce each schema drift the refresh met, once per drift (never raises)."""
    if not any(o.drift_key for o in outcomes):
        return []
    return notify_drift(
        outcomes, pgy.path, labels=kol_labels(pgy) if labels is None else labels, run_id=run_id
    )


def alert_given_up(
    pgy: PgyResource, failures: Sequence[GivenUpKol], log: logging.Logger | dg.DagsterLogManager | None = None
) -> NotifyResult:
    """For ``kol_retry_sensor``: announce the KOLs it gave up on, each once (never raises)."""
    # A give-up on a kind never retried (400, 600, unknown codes) was already told by the failed
    # run's own message, on its first and only attempt.
    given_up = [f for f in failures if getattr(f, "gave_up", True) and f.error_kind in RETRIED_KINDS]
    result = notify_given_up(given_up, pgy.path, labels=kol_labels(pgy) if given_up else None)
    if log is not None and result.status in ("sent", "failed"):
        log.info("given-up alert: %s %s", result.status, result.detail)
    return result


__all__ = [
    "ALERT_SENSOR_NAME",
    "alert_drift",
    "alert_given_up",
    "alert_stops",
    "first_failure_message",
    "kol_labels",
    "pgy_alert_on_run_failure",
]
