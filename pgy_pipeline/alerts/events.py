"""Alerts for the pipeline's events: a stop of all calls, a KOL given up on (a failed run: runs.py).

Each builder takes plain values (or objects shaped like ``KolOutcome`` / ``KolFailure``), so the
refresh core, the sensors and the CLI can all raise the same alert with the same dedup key.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from pgy_pipeline.justoneapi.errors import (
    BudgetExhausted,
    InsufficientBalance,
    InvalidToken,
    QuotaExceeded,
    StopAllCalls,
    UnbilledLimitReached,
)
from pgy_pipeline.justoneapi.redaction import redact
from pgy_pipeline.warehouse.state import QUOTA_TZ, quota_day

from .model import Alert, AlertKind, kol_list

Labels = Mapping[str, str | None]

# Each stop, by the error that causes it.
_STOP_ERRORS: tuple[tuple[type[StopAllCalls], AlertKind], ...] = (
    (QuotaExceeded, AlertKind.QUOTA_STOP),
    (InsufficientBalance, AlertKind.BALANCE_STOP),
    (InvalidToken, AlertKind.TOKEN_STOP),
    (BudgetExhausted, AlertKind.BUDGET_STOP),
    (UnbilledLimitReached, AlertKind.UNBILLED_STOP),
)
# Each stop by its one-word name (StopAllCalls.stop_kind), which outcomes and run tags record.
STOP_KINDS = {err.stop_kind: kind for err, kind in _STOP_ERRORS}
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
    def stop_kind(self) -> str | None: ...
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


def stop_alert_kind(stop: str | None) -> AlertKind | None:
    """The alert of a stop named as ``StopAllCalls.stop_kind`` names it; None for no stop we know."""
    return STOP_KINDS.get(stop) if stop else None


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
    more: int = 0,
) -> Alert:
    """A stop; ``more``: KOLs it refused beyond ``user_ids`` that are not named."""
    title, what, todo = _STOP_TEXT[kind]
    if kind is AlertKind.QUOTA_STOP and until is not None:
        what += f" No calls until {until.astimezone(QUOTA_TZ):%Y-%m-%d %H:%M} Asia/Shanghai."
    lines = [what]
    if user_ids or more:
        count = len(set(user_ids)) + more
        lines.append(f"KOLs not refreshed ({count}): {kol_list(user_ids, labels, more=more)}")
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
        kind = stop_alert_kind(o.stop_kind) if o.status == "stopped" else None
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
