"""Alerts for the pipeline's events: a failed run, a stop of all calls, a KOL given up on.

Each builder takes plain values (or objects shaped like ``KolOutcome`` / ``KolFailure``), so the
refresh core, the sensors and the CLI can all raise the same alert with the same dedup key.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from pgy_pipeline.justoneapi.envelope import CODE_TABLE
from pgy_pipeline.justoneapi.errors import (
    ApiError,
    BudgetExhausted,
    InsufficientBalance,
    InvalidToken,
    QuotaExceeded,
    UnbilledLimitReached,
)
from pgy_pipeline.justoneapi.redaction import redact
from pgy_pipeline.warehouse.state import QUOTA_TZ, quota_day

from .drift import SCHEMA_KIND, drift_alert, parse_drift_tag
from .model import Alert, AlertKind, kol_list

Labels = Mapping[str, str | None]

# Each stop, by the error that causes it. A stop refused locally (budget, or an active quota stop)
# has no code; its summary names it.
_STOP_ERRORS: tuple[tuple[type[ApiError], AlertKind], ...] = (
    (QuotaExceeded, AlertKind.QUOTA_STOP),
    (InsufficientBalance, AlertKind.BALANCE_STOP),
    (InvalidToken, AlertKind.TOKEN_STOP),
    (BudgetExhausted, AlertKind.BUDGET_STOP),
    (UnbilledLimitReached, AlertKind.UNBILLED_STOP),
)
# The vendor's codes for them, from its code table (303, 601, 100).
STOP_CODES = {
    code: kind for code, (cls, _, _) in CODE_TABLE.items() for err, kind in _STOP_ERRORS if cls is err
}
# (title, what happened, what to do): written for the person reading the group chat.
_STOP_TEXT = {
    AlertKind.QUOTA_STOP: (
        "pgy: Just One API daily quota exhausted (303)",
        "All API calls stopped: the daily quota is exceeded.",
        "nothing, runs resume after the reset; if the plan's quota was raised, run `pgy status --clear-stop`.",
    ),
    AlertKind.BALANCE_STOP: (
        "pgy: Just One API balance exhausted (601)",
        "All API calls stopped: the account balance is insufficient.",
        "top up the Just One API balance, then `pgy refresh` the KOLs below (stops are not retried).",
    ),
    AlertKind.TOKEN_STOP: (
        "pgy: Just One API token rejected (100)",
        "All API calls stopped: the token is invalid or inactive.",
        "set JUSTONEAPI_TOKEN to a valid token, reload the code location, then `pgy refresh` the KOLs below.",
    ),
    AlertKind.BUDGET_STOP: (
        "pgy: daily call budget spent",
        "All API calls stopped: our own daily budget of billed calls (PGY_DAILY_CALL_BUDGET) is spent.",
        "raise PGY_DAILY_CALL_BUDGET, or wait: the budget renews at midnight Asia/Shanghai.",
    ),
    AlertKind.UNBILLED_STOP: (
        "pgy: too many failing API calls today",
        "All API calls stopped: today's calls the vendor did not bill (301, 500, ...) reached "
        "PGY_DAILY_UNBILLED_CALL_LIMIT.",
        "see `pgy status` for the failing KOLs and codes; raise the limit, or wait for midnight Asia/Shanghai.",
    ),
}


class StoppedKol(Protocol):
    """The fields of ``refresh.KolOutcome`` a stop alert reads."""

    @property
    def user_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def error_code(self) -> int | None: ...
    @property
    def summary(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...


class GivenUpKol(Protocol):
    """The fields of ``warehouse.state.KolFailure`` a give-up alert reads."""

    @property
    def user_id(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def code(self) -> int | None: ...
    @property
    def error_kind(self) -> str: ...
    @property
    def message(self) -> str | None: ...
    @property
    def last_failed_at(self) -> datetime: ...


def stop_kind(code: int | None, summary: str | None = None) -> AlertKind | None:
    """Which stop a business code or an error summary means; None when it is not a stop we know."""
    if code in STOP_CODES:
        return STOP_CODES[code]
    text = (summary or "").lower()
    return next((kind for err, kind in _STOP_ERRORS if err.summary in text), None)


def stop_key(kind: AlertKind, until: datetime | None = None, now: datetime | None = None) -> str:
    """One key per stop: a quota stop by its reset time, the others once per quota day."""
    if kind is AlertKind.QUOTA_STOP and until is not None:
        return f"{kind.value}:{until.astimezone(UTC).isoformat()}"
    return f"{kind.value}:{quota_day(now).isoformat()}"


def stop_alert(
    kind: AlertKind,
    user_ids: Sequence[str],
    *,
    labels: Labels | None = None,
    until: datetime | None = None,
    detail: str | None = None,
    link: str | None = None,
    now: datetime | None = None,
) -> Alert:
    title, what, todo = _STOP_TEXT[kind]
    if kind is AlertKind.QUOTA_STOP and until is not None:
        what += f" No calls until {until.astimezone(QUOTA_TZ):%Y-%m-%d %H:%M} Asia/Shanghai."
    lines = [what]
    if user_ids:
        lines.append(f"KOLs not refreshed ({len(set(user_ids))}): {kol_list(user_ids, labels)}")
    if detail:
        lines.append(f"Detail: {redact(detail)}")
    lines.append(f"To do: {todo}")
    return Alert(kind, title, tuple(lines), stop_key(kind, until, now), link)


def stop_alerts(
    outcomes: Sequence[StoppedKol],
    *,
    labels: Labels | None = None,
    quota_until: datetime | None = None,
    link: str | None = None,
    now: datetime | None = None,
) -> list[Alert]:
    """One alert per kind of stop met by these refresh outcomes (not one per KOL)."""
    by_kind: dict[AlertKind, list[StoppedKol]] = defaultdict(list)
    for o in outcomes:
        kind = stop_kind(o.error_code, o.summary) if o.status == "stopped" else None
        if kind is not None:
            by_kind[kind].append(o)
    alerts = []
    for kind, stopped in by_kind.items():
        # The KOL that met the stop carries the vendor's code and message; the rest were refused locally.
        first = next((o for o in stopped if o.error_code is not None), stopped[0])
        users = [o.user_id for o in stopped]
        alerts.append(
            stop_alert(
                kind, users, labels=labels, until=quota_until, detail=first.message, link=link, now=now
            )
        )
    return alerts


def run_failed_alert(
    run_id: str,
    job_name: str,
    message: str,
    failed: Sequence[tuple[str, str]] = (),
    retryable: Sequence[str] = (),
    *,
    labels: Labels | None = None,
    link: str | None = None,
) -> Alert:
    """A failed run; ``failed`` pairs each failed KOL with its code or error kind."""
    users = [u for u, _ in failed]
    title = f"pgy: {job_name} run failed" + (f" ({len(set(users))} KOL(s))" if users else "")
    lines = [redact(message) or "The run failed."]
    if users:
        lines.append(f"Failed KOLs ({len(set(users))}): {kol_list(users, labels, dict(failed))}")
    rejected = [u for u in users if u not in set(retryable)]
    if retryable and not rejected:
        lines.append(
            "To do: nothing yet; the retry sensor re-runs them after a cooldown (and says so if it gives up)."
        )
    elif rejected:
        lines.append(
            f"To do: check the user ids or permissions of the {len(set(rejected))} KOL(s) not retried"
            + (
                f"; the {len(set(retryable))} retryable ones are re-run by the retry sensor."
                if retryable
                else "."
            )
        )
    else:
        lines.append("To do: open the run in the Dagster UI for its event log.")
    lines.append(f"Run {run_id}")
    return Alert(AlertKind.RUN_FAILED, title, tuple(lines), f"run_failed:{run_id}", link)


def given_up_key(failure: GivenUpKol) -> str:
    # The failure time tells a second give-up (after a success cleared the record) from the first.
    return (
        f"given_up:{failure.user_id}:{failure.attempts}:{failure.last_failed_at.astimezone(UTC).isoformat()}"
    )


def given_up_alert(
    failures: Sequence[GivenUpKol], *, labels: Labels | None = None, link: str | None = None
) -> Alert:
    """The KOLs the retry sensor will no longer retry, in one message."""
    keys = sorted(given_up_key(f) for f in failures)
    key = (
        keys[0] if len(keys) == 1 else "given_up:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    )
    notes = {f.user_id: f"{f.code or f.error_kind}, {f.attempts} attempt(s)" for f in failures}
    users = [f.user_id for f in failures]
    last = max(failures, key=lambda f: f.last_failed_at)
    lines = [
        f"No more automatic retries for {len(users)} KOL(s): {kol_list(users, labels, notes)}",
        f"Last error: {redact(last.message or last.error_kind)}",
        "To do: check the user id and permissions (400/600 are never retried); `pgy refresh <user_id>` "
        "fetches a KOL again once fixed.",
    ]
    return Alert(AlertKind.KOL_GIVEN_UP, f"pgy: gave up on {len(users)} KOL(s)", tuple(lines), key, link)


def parse_kol_tag(tag: str | None) -> list[tuple[str, str]]:
    """``u1:301,u2:stop`` (the run tag ``pgy/failed_kols``) as pairs; a bare id gets an empty code."""
    pairs = []
    for item in (tag or "").split(","):
        user_id, _, code = item.strip().partition(":")
        if user_id:
            pairs.append((user_id, code))
    return pairs


def run_failure_alerts(
    run_id: str,
    job_name: str,
    message: str,
    failed_kols_tag: str | None = None,
    retryable_kols_tag: str | None = None,
    *,
    labels: Labels | None = None,
    quota_until: datetime | None = None,
    link: str | None = None,
    retry_run: bool = False,
    now: datetime | None = None,
    drift: str | None = None,
    unbilled_stop: bool = False,
) -> list[Alert]:
    """The alerts a failed run deserves: one per stop or drift it met, plus one for its other failures.

    A run that failed only because calls are stopped gets the stop's alert alone, whose key it
    shares with every other run under the same stop: the group hears of a quota stop once, not
    once per scheduled run. ``quota_until`` is the active quota stop's end (PipelineState).
    A ``retry_run`` (launched by the retry sensor) whose KOLs all failed retryably again says
    nothing: the retry sensor announces the KOLs it finally gives up on. ``drift`` is the run's
    ``pgy/schema_drift`` tag: its KOLs get the drift's one alert, shared with every run that met it.
    """
    failed = parse_kol_tag(failed_kols_tag)
    retryable = [u for u, _ in parse_kol_tag(retryable_kols_tag)]
    stops: dict[AlertKind, list[str]] = defaultdict(list)
    others = []
    met_drift, drifted = parse_drift_tag(drift), []
    for user_id, code in failed:
        kind = stop_kind(int(code)) if code.isdigit() else None
        if kind is None and code == "stop":
            # Refused without a vendor code: an active quota stop, else our own limits.
            own = AlertKind.UNBILLED_STOP if unbilled_stop else AlertKind.BUDGET_STOP
            kind = AlertKind.QUOTA_STOP if quota_until is not None else own
        if kind is None and code == SCHEMA_KIND and met_drift is not None:
            drifted.append(user_id)
        elif kind is None:
            others.append((user_id, code))
        else:
            stops[kind].append(user_id)
    alerts = [
        stop_alert(
            kind,
            users,
            labels=labels,
            until=quota_until,
            detail=message,
            link=link,
            now=now,
        )
        for kind, users in stops.items()
    ]
    if met_drift is not None and drifted:
        alerts.append(drift_alert(*met_drift, drifted, labels=labels, link=link))
    kept = [u for u in retryable if u in {o for o, _ in others}]
    if retry_run and others and set(kept) >= {o for o, _ in others}:
        return alerts
    if others or not (stops or drifted):
        alerts.append(run_failed_alert(run_id, job_name, message, others, kept, labels=labels, link=link))
    return alerts
