"""How a KOL's refresh ends (``KolOutcome``) and the run's totals: what people act on.

Statuses and error kinds are enums so that a typo is a type error, not a silent miss;
they are ``StrEnum`` so they read as plain text in metadata, tags and tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pgy_pipeline.justoneapi import (
    ApiError,
    FetchResult,
    Interrupted,
    NoContent,
    RequestRejected,
    RetryableError,
    SchemaDrift,
    SchemaDriftStop,
    SlowDownError,
    StopAllCalls,
)
from pgy_pipeline.warehouse.writes import WriteStats


class KolStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    # Run-wide stop (token, quota, balance, budget): not the KOL's fault.
    STOPPED = "stopped"
    # Completed recently with the same filters, so nothing was bought (PgyResource.fresh_for_h).
    SKIPPED = "skipped"
    # Not fetched in this run: the daily call budget could not cover it; it waits for tomorrow
    # (the stalest KOLs go first, refresh/plan.py).
    DEFERRED = "deferred"
    # The API answered code 201 (no content available): not a failure, and never evidence that the
    # KOL's stored notes are gone; not bought again until the recheck interval (refresh/plan.py).
    NO_CONTENT = "no_content"
    # SIGINT/SIGTERM (Ctrl-C, Dagster's Terminate) stopped the run before it finished: not a
    # failure (no alert, no retry by the sensor); its stored pages are kept and the next run resumes.
    INTERRUPTED = "interrupted"


class ErrorKind(StrEnum):
    """What a failure asks the pipeline to do (FACTS.md's table, grouped)."""

    RETRY = "retry"
    SLOW_DOWN = "slow_down"
    STOP = "stop"
    REJECTED = "rejected"
    # The API's answers changed shape (justoneapi/drift.py): the code must learn it; never retried.
    SCHEMA = "schema"
    NO_CONTENT = "no_content"
    # A bug or a storage failure outside the API.
    INTERNAL = "internal"


NO_CONTENT_MESSAGE = (
    "no content available (code 201): the API says this KOL has no content; its stored notes are kept "
    "(a 201 is no evidence that they are gone)"
)

# The kinds of failure the retry sensor re-launches after a cooldown; all others are final.
RETRIED_KINDS = (ErrorKind.RETRY, ErrorKind.SLOW_DOWN)


def error_kind(error: ApiError) -> ErrorKind:
    if isinstance(error, SchemaDrift | SchemaDriftStop):
        return ErrorKind.SCHEMA
    if isinstance(error, NoContent):
        return ErrorKind.NO_CONTENT
    if isinstance(error, StopAllCalls):
        return ErrorKind.STOP
    if isinstance(error, RequestRejected):
        return ErrorKind.REJECTED
    if isinstance(error, SlowDownError):
        return ErrorKind.SLOW_DOWN
    if isinstance(error, RetryableError):
        return ErrorKind.RETRY
    return ErrorKind.REJECTED  # unknown kinds fail closed


@dataclass
class KolOutcome:
    """How one KOL's refresh ended; everything a person needs to act on it."""

    user_id: str
    status: KolStatus
    fetch_id: str | None = None
    pages: int = 0
    pages_reused: int = 0
    calls: int = 0
    retries: int = 0
    notes: int = 0
    notes_new: int = 0
    marked_gone: int = 0
    notes_revived: int = 0  # marked gone earlier, listed again by this fetch
    reported_total: int | None = None
    null_metrics: int = 0
    dates_unreadable: int = 0  # a `date` that is no YYYY-MM-DD calendar date: publish_date NULL
    duplicates_dropped: int = 0
    complete: bool = False
    incremental: bool = False  # fetched newest first down to the date window (refresh/modes.py)
    stop_reason: str | None = None
    codes: dict[int, int] = field(default_factory=dict)
    error_kind: ErrorKind | None = None
    error_code: int | None = None
    failed_pages: str | None = None
    message: str | None = None
    action: str | None = None  # what a person must do, for stops (e.g. "top up the balance")
    summary: str | None = None  # the failure in a few words, e.g. "daily quota exceeded"
    # Schema drift: which field changed and how, in one line with an example, and its name (drift.key).
    drift: str | None = None
    drift_key: str | None = None
    stop_kind: str | None = None  # for a stop, which: quota, balance, token, budget (StopAllCalls.stop_kind)
    duration_s: float = 0.0
    # Every page is in the raw layer but the DuckDB write failed: the next run writes it, no call.
    unwritten: bool = False

    @property
    def retryable(self) -> bool:
        return self.status == KolStatus.FAILED and self.error_kind in RETRIED_KINDS

    @property
    def failed(self) -> bool:
        return self.status in (KolStatus.FAILED, KolStatus.STOPPED)


@dataclass(frozen=True)
class RunTotals:
    """Run-level totals for metadata and the CLI summary."""

    kols: int
    kols_ok: int
    kols_failed: int
    kols_stopped: int
    kols_skipped: int
    kols_deferred: int
    kols_no_content: int
    kols_interrupted: int
    pages: int
    pages_reused: int
    api_calls: int
    retries: int
    notes: int
    notes_new: int
    notes_marked_gone: int
    notes_revived: int
    null_metrics: int
    dates_unreadable: int
    codes: dict[str, int]


def summarize(outcomes: Sequence[KolOutcome]) -> RunTotals:
    codes: Counter[int] = Counter()
    for o in outcomes:
        codes.update(o.codes)
    return RunTotals(
        kols=len(outcomes),
        kols_ok=sum(o.status == KolStatus.OK for o in outcomes),
        kols_failed=sum(o.status == KolStatus.FAILED for o in outcomes),
        kols_stopped=sum(o.status == KolStatus.STOPPED for o in outcomes),
        kols_skipped=sum(o.status == KolStatus.SKIPPED for o in outcomes),
        kols_deferred=sum(o.status == KolStatus.DEFERRED for o in outcomes),
        kols_no_content=sum(o.status == KolStatus.NO_CONTENT for o in outcomes),
        kols_interrupted=sum(o.status == KolStatus.INTERRUPTED for o in outcomes),
        pages=sum(o.pages for o in outcomes),
        pages_reused=sum(o.pages_reused for o in outcomes),
        api_calls=sum(o.calls for o in outcomes),
        retries=sum(o.retries for o in outcomes),
        notes=sum(o.notes for o in outcomes),
        notes_new=sum(o.notes_new for o in outcomes),
        notes_marked_gone=sum(o.marked_gone for o in outcomes),
        notes_revived=sum(o.notes_revived for o in outcomes),
        null_metrics=sum(o.null_metrics for o in outcomes),
        dates_unreadable=sum(o.dates_unreadable for o in outcomes),
        codes={str(k): v for k, v in sorted(codes.items())},
    )


def failed_pages_text(failed_pages: Mapping[int, int | str]) -> str | None:
    """``"3:301, 4:timeout"``: each failed page with its code or kind, as ``fetches.failed_pages``."""
    return ", ".join(f"{p}:{c}" for p, c in failed_pages.items()) or None


def ok_outcome(
    user_id: str, fetch_id: str | None, result: FetchResult | None, stats: WriteStats, *, windowed: bool
) -> KolOutcome:
    """A KOL whose fetch ended and whose notes are in the warehouse (``stats``: what the write did)."""
    r = result
    assert r is not None
    return KolOutcome(
        user_id,
        KolStatus.OK,
        fetch_id=fetch_id,
        pages=len(r.pages),
        pages_reused=r.pages_reused,
        calls=r.calls,
        retries=r.retries,
        notes=len(r.notes),
        notes_new=stats.new_by_user.get(user_id, 0),
        marked_gone=stats.gone_by_user.get(user_id, 0),
        notes_revived=stats.revived_by_user.get(user_id, 0),
        reported_total=r.total,
        # The warehouse's count: what was stored as NULL, unreadable values included.
        null_metrics=stats.null_metrics_by_user.get(user_id, 0),
        dates_unreadable=stats.dates_unreadable_by_user.get(user_id, 0),
        duplicates_dropped=r.duplicates_dropped,
        complete=r.complete and not windowed,
        incremental=windowed,
        stop_reason=r.stop_reason,
        codes=dict(Counter(r.codes)),
    )


def failed_outcome(
    user_id: str,
    fetch_id: str | None,
    cause: ApiError,
    failed_pages: Mapping[int, int | str],
    partial: FetchResult | None,
) -> KolOutcome:
    """A KOL whose fetch failed: what failed, what it cost so far, and (for stops) what to do.

    A 201 is no failure: the KOL's outcome is NO_CONTENT. A run-wide stop (StopAllCalls, the schema
    drift stop included) is STOPPED: not the KOL's fault.
    """
    kind = error_kind(cause)
    stop = isinstance(cause, StopAllCalls)
    status = KolStatus.STOPPED if stop else KolStatus.FAILED
    if isinstance(cause, Interrupted):
        status = KolStatus.INTERRUPTED  # a person asked to stop: no failure, no alert, no retry
    drift = getattr(cause, "drift", None)
    no_content = kind == ErrorKind.NO_CONTENT
    outcome = KolOutcome(
        user_id,
        KolStatus.NO_CONTENT if no_content else status,
        fetch_id=fetch_id,
        error_kind=kind,
        error_code=cause.code,
        failed_pages=failed_pages_text(failed_pages),
        message=NO_CONTENT_MESSAGE if no_content else str(cause),
        action=getattr(cause, "action", None) if stop else None,
        summary=cause.summary,
        drift=drift.detail if drift is not None else None,
        drift_key=drift.key if drift is not None else None,
        stop_kind=getattr(cause, "stop_kind", None) if kind == ErrorKind.STOP else None,
    )
    if partial is not None:
        outcome.pages = len(partial.pages)
        outcome.pages_reused = partial.pages_reused
        outcome.calls = partial.calls
        outcome.retries = partial.retries
        outcome.codes = dict(partial.codes)
        outcome.reported_total = partial.total
    return outcome


def not_started_outcome(user_id: str, signal_name: str) -> KolOutcome:
    """A KOL the run never began: an interrupt came first. Nothing was bought or stored for it."""
    return KolOutcome(
        user_id,
        KolStatus.INTERRUPTED,
        error_kind=ErrorKind.STOP,
        message=f"not started: {signal_name} came first",
        summary=Interrupted.summary,
        action=Interrupted.action,
    )


@dataclass(frozen=True)
class InterruptSummary:
    """What a run stopped by SIGINT/SIGTERM did, as the run's tag and `pgy refresh` show it."""

    signal: str  # SIGINT or SIGTERM
    calls: int  # API calls bought by the run, every attempt (the run's ledger)
    written: int  # KOLs whose notes are in the warehouse
    unwritten: int  # KOLs complete in the raw layer whose write failed: the next run writes them, no call
    partial: int  # KOLs begun: their stored pages are kept, the next run buys only the rest
    not_started: int  # KOLs the run never began

    @classmethod
    def of(cls, signal: str, outcomes: Sequence[KolOutcome], calls: int) -> InterruptSummary:
        interrupted = [o for o in outcomes if o.status == KolStatus.INTERRUPTED]
        begun = [o for o in interrupted if o.calls or o.pages]
        return cls(
            signal=signal,
            calls=calls,
            written=sum(o.status == KolStatus.OK for o in outcomes),
            unwritten=sum(o.unwritten for o in outcomes),
            partial=len(begun),
            not_started=len(interrupted) - len(begun),
        )

    def describe(self) -> str:
        return (
            f"Interrupted by {self.signal}: no API call started after it. This run bought {self.calls} "
            f"API call(s); KOLs written: {self.written}; complete in the raw layer but not written: "
            f"{self.unwritten}; partly fetched (pages kept): {self.partial}; not started: {self.not_started}. "
            "The next run resumes them, buying only the pages not stored yet."
        )
