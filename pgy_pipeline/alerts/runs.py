"""The alerts a failed run deserves: one per stop it met, plus one for its other failures.

What a run failed on comes from its tags, decoded by ``defs.kol_tags`` (``RunKols``): the KOLs
the tags had room to name, and counts over all of them, so that no decision here rests on the
named part alone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from pgy_pipeline.justoneapi.redaction import redact

from .drift import SCHEMA_KIND, MetDrift, drift_alert
from .events import Labels, stop_alert, stop_alert_kind
from .model import Alert, AlertKind, kol_list


class FailedKol(Protocol):
    """One failed KOL a run's tags name (``defs.kol_tags.FailedKol``)."""

    @property
    def user_id(self) -> str: ...
    @property
    def stop(self) -> str | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def code_or_reason(self) -> str: ...


class RunFailures(Protocol):
    """A run's failed KOLs: the ones named, and counts over every one (``defs.kol_tags.RunKols``)."""

    @property
    def failed(self) -> Sequence[FailedKol]: ...
    @property
    def failed_count(self) -> int: ...
    @property
    def stop_counts(self) -> Mapping[str, int]: ...
    @property
    def retryable_count(self) -> int: ...
    @property
    def rejected_count(self) -> int: ...
    @property
    def reason_counts(self) -> Mapping[str, int]: ...


def run_failed_alert(
    run_id: str,
    job_name: str,
    message: str,
    failed: Sequence[tuple[str, str]] = (),
    more: int = 0,
    *,
    retryable: int = 0,
    rejected: int = 0,
    labels: Labels | None = None,
    link: str | None = None,
) -> Alert:
    """A failed run: ``failed`` pairs each named KOL with its code or reason, ``more`` counts the
    KOLs not named; ``retryable`` and ``rejected`` count the KOLs re-run and never re-run."""
    users = [u for u, _ in failed]
    count = len(set(users)) + more
    title = f"pgy: {job_name} run failed" + (f" ({count} KOL(s))" if count else "")
    lines = [redact(message) or "The run failed."]
    if count:
        lines.append(f"Failed KOLs ({count}): {kol_list(users, labels, dict(failed), more=more)}")
    if retryable and not rejected:
        lines.append(
            "To do: nothing yet; the retry sensor re-runs them after a cooldown (and says so if it gives up)."
        )
    elif rejected:
        lines.append(
            f"To do: check the user ids or permissions of the {rejected} KOL(s) not retried"
            + (f"; the {retryable} retryable ones are re-run by the retry sensor." if retryable else ".")
        )
    else:
        lines.append("To do: open the run in the Dagster UI for its event log.")
    lines.append(f"Run {run_id}")
    return Alert(AlertKind.RUN_FAILED, title, tuple(lines), f"run_failed:{run_id}", link)


def run_failure_alerts(
    run_id: str,
    job_name: str,
    message: str,
    kols: RunFailures | None = None,
    *,
    labels: Labels | None = None,
    quota_until: datetime | None = None,
    link: str | None = None,
    retry_run: bool = False,
    now: datetime | None = None,
    drift: MetDrift | None = None,
) -> list[Alert]:
    """The alerts a failed run deserves: one per stop or drift it met, plus one for its other failures.

    Which stop refused a KOL was recorded when the run met it (its tags say so). A run that
    failed only because calls are stopped gets the stop's alert alone, whose key it shares with
    every other run under the same stop: the group hears of a quota stop once, not once per
    scheduled run. ``quota_until`` is the active quota stop's end (PipelineState), for the text.
    A ``retry_run`` (launched by the retry sensor) whose KOLs all failed retryably again says
    nothing: the retry sensor announces the KOLs it finally gives up on. ``drift`` is what the run's
    ``pgy/schema_drift`` tag says: its KOLs get the drift's one alert, shared with every run that met it.
    """
    named = list(kols.failed) if kols else []
    met_drift = drift
    drifted = [f.user_id for f in named if f.reason == SCHEMA_KIND] if met_drift else []
    drift_total = (kols.reason_counts.get(SCHEMA_KIND, 0) if kols else 0) if met_drift else 0
    stop_totals: Counter[AlertKind] = Counter()
    for stop, n in (kols.stop_counts if kols else {}).items():
        kind = stop_alert_kind(stop)
        if kind is not None:
            stop_totals[kind] += n
    stopped: dict[AlertKind, list[str]] = defaultdict(list)
    others = []
    for f in named:
        kind = stop_alert_kind(f.stop)
        if met_drift and f.reason == SCHEMA_KIND:
            continue
        if kind is None:
            others.append((f.user_id, f.code_or_reason))
        else:
            stopped[kind].append(f.user_id)
    alerts = [
        stop_alert(
            kind,
            stopped[kind],
            labels=labels,
            until=quota_until,
            detail=message,
            link=link,
            now=now,
            more=total - len(set(stopped[kind])),
        )
        for kind, total in stop_totals.items()
    ]
    if met_drift is not None and drift_total:
        alerts.append(drift_alert(met_drift.key, met_drift.detail, drifted, labels=labels, link=link))
    other_total = (kols.failed_count if kols else 0) - sum(stop_totals.values()) - drift_total
    retryable = kols.retryable_count if kols else 0
    if retry_run and other_total and retryable == other_total:
        return alerts
    if other_total or not (stop_totals or drift_total):
        more = other_total - len({u for u, _ in others})
        alerts.append(
            run_failed_alert(
                run_id,
                job_name,
                message,
                others,
                max(more, 0),
                retryable=retryable,
                rejected=(kols.rejected_count if kols else 0) - drift_total,
                labels=labels,
                link=link,
            )
        )
    return alerts
