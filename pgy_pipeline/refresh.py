"""Refreshing KOLs: fetch every page (raw layer first), then normalise into the warehouse.

This is the functional core the Dagster assets call; it knows nothing about Dagster.
Many KOLs are fetched concurrently through one client (one shared, adaptive rate
limiter); each KOL's result is written in its own short DuckDB transaction as soon as
it is complete, so a failure of one KOL never touches another's rows.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pgy_pipeline.justoneapi import (
    ApiError,
    CallRecord,
    FetchIncomplete,
    FetchResult,
    NotesDetailClient,
    NotesQuery,
    Page,
    QuotaExceeded,
    RequestRejected,
    RetryableError,
    SlowDownError,
    StopAllCalls,
)
from pgy_pipeline.normalise import calls_frame, fetch_row_to_json, page_from_raw, raw_from_page
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.state import PipelineState, next_quota_reset
from pgy_pipeline.warehouse.writes import FetchRow, WriteStats, write_fetches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How the retry sensor treats a KOL that failed with a retry-here outcome."""

    cooldown_s: float = 300.0
    max_attempts: int = 4


@dataclass
class KolOutcome:
    """How one KOL's refresh ended; everything a person needs to act on it."""

    user_id: str
    status: str  # ok | failed | stopped
    fetch_id: str | None = None
    pages: int = 0
    pages_reused: int = 0
    calls: int = 0
    retries: int = 0
    notes: int = 0
    notes_new: int = 0
    marked_gone: int = 0
    reported_total: int | None = None
    null_metrics: int = 0
    duplicates_dropped: int = 0
    complete: bool = False
    stop_reason: str | None = None
    codes: dict[int, int] = field(default_factory=dict)
    error_kind: str | None = None  # retry | slow_down | stop | rejected
    error_code: int | None = None
    failed_pages: str | None = None
    message: str | None = None
    action: str | None = None  # what a person must do, for stops (e.g. "top up the balance")
    summary: str | None = None  # the failure in a few words, e.g. "daily quota exceeded"
    duration_s: float = 0.0

    @property
    def retryable(self) -> bool:
        return self.status == "failed" and self.error_kind in ("retry", "slow_down")


def error_kind(error: ApiError) -> str:
    if isinstance(error, StopAllCalls):
        return "stop"
    if isinstance(error, RequestRejected):
        return "rejected"
    if isinstance(error, SlowDownError):
        return "slow_down"
    if isinstance(error, RetryableError):
        return "retry"
    return "rejected"  # unknown kinds fail closed


class _CallLedger:
    """Collects CallRecords per KOL from the client's worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_user: dict[str, list[CallRecord]] = {}

    def __call__(self, record: CallRecord) -> None:
        with self._lock:
            self._by_user.setdefault(record.user_id, []).append(record)

    def take(self, user_id: str) -> list[CallRecord]:
        with self._lock:
            return self._by_user.pop(user_id, [])


class Refresher:
    """Runs the refresh of many KOLs with one client; reports each outcome as it lands."""

    def __init__(
        self,
        client_factory: Callable[[Callable[[CallRecord], None]], AbstractContextManager[NotesDetailClient]],
        warehouse: Warehouse,
        raw: RawStore,
        state: PipelineState,
        run_id: str | None,
        kol_workers: int = 8,
        retry: RetryPolicy | None = None,
        resume_max_age: timedelta = timedelta(hours=24),
        on_outcome: Callable[[KolOutcome], None] | None = None,
    ) -> None:
        self.ledger = _CallLedger()
        self.client_factory = client_factory
        self.warehouse = warehouse
        self.raw = raw
        self.state = state
        self.run_id = run_id
        self.kol_workers = kol_workers
        self.retry = retry or RetryPolicy()
        self.resume_max_age = resume_max_age
        self.on_outcome = on_outcome

    def refresh(self, user_ids: Sequence[str], filters: Mapping[str, str] | None = None) -> list[KolOutcome]:
        queries = [NotesQuery(u, **(filters or {})) for u in user_ids]  # validates before any call
        stop = self.state.active_stop()
        if stop:
            _kind, until, reason = stop
            msg = f"{reason}; no calls until {until.isoformat()}"
            outs = [
                KolOutcome(
                    q.user_id,
                    "stopped",
                    error_kind="stop",
                    message=msg,
                    summary=reason,
                    action=f"no calls until the quota resets at {until.isoformat()}; runs after that resume",
                )
                for q in queries
            ]
            for o in outs:
                self._report(o)
            return outs
        outcomes: dict[str, KolOutcome] = {}
        with (
            self.client_factory(self.ledger) as client,
            ThreadPoolExecutor(max_workers=max(1, self.kol_workers), thread_name_prefix="kol") as pool,
        ):
            futures = [pool.submit(self._one, client, q) for q in queries]
            # Outcomes are reported from this thread, as each KOL lands (Dagster's event
            # log is written from the step's own thread).
            for fut in as_completed(futures):
                outcome = fut.result()
                outcomes[outcome.user_id] = outcome
                self._report(outcome)
        self.warehouse.publish_if_dirty()
        return [outcomes[q.user_id] for q in queries]

    def _report(self, outcome: KolOutcome) -> None:
        if self.on_outcome:
            self.on_outcome(outcome)

    def _one(self, client: NotesDetailClient, query: NotesQuery) -> KolOutcome:
        started = time.monotonic()
        try:
            outcome = self._fetch_and_store(client, query)
        except Exception as exc:  # a bug or a storage failure must not kill the other KOLs
            log.exception("refresh of %s failed outside the API", query.user_id)
            outcome = KolOutcome(
                query.user_id, "failed", error_kind="rejected", message=f"internal error: {exc}"
            )
        outcome.duration_s = time.monotonic() - started
        return outcome

    def _fetch_and_store(self, client: NotesDetailClient, query: NotesQuery) -> KolOutcome:
        user_id = query.user_id
        fp = query.fingerprint()
        fetch_id = self.raw.resumable(user_id, fp, self.resume_max_age)
        if fetch_id is None:
            fetch_id = self.raw.begin(user_id, fp, _filters(query), self.run_id)
        known: dict[int, Page] = {
            n: page_from_raw(rp, query) for n, rp in self.raw.pages(user_id, fetch_id).items()
        }
        started_at = min((p.fetched_at for p in known.values()), default=None)

        def persist(page: Page) -> None:
            self.raw.append(raw_from_page(page, fetch_id, self.run_id))

        try:
            result = client.fetch_all(query, known_pages=known, on_page=persist)
        except FetchIncomplete as exc:
            return self._failed(query, fetch_id, exc.cause, exc.result, exc.failed_pages, started_at)
        except ApiError as exc:  # e.g. a stop raised before page 1
            return self._failed(query, fetch_id, exc, None, {}, started_at)

        status = "complete" if result.complete else "incomplete"
        first = min((p.fetched_at for p in result.pages), default=datetime.now(UTC))
        row = _fetch_row(query, fetch_id, self.run_id, status, first, result)
        self.raw.mark_done(user_id, fetch_id, fetch_row_to_json(row))
        calls = self.ledger.take(user_id)
        with self.warehouse.write() as conn:
            stats = write_fetches(
                conn,
                [row],
                [self.raw.fetch_file(user_id, fetch_id)],
                calls_frame(calls, self.run_id, fetch_id),
            )
        self.state.clear_failure(user_id)
        return _ok_outcome(query, fetch_id, result, stats)

    def _failed(
        self,
        query: NotesQuery,
        fetch_id: str,
        cause: ApiError,
        partial: FetchResult | None,
        failed_pages: Mapping[int, int | str],
        started_at: datetime | None,
    ) -> KolOutcome:
        kind = error_kind(cause)
        pages_txt = ", ".join(f"{p}:{c}" for p, c in failed_pages.items()) or None
        outcome = KolOutcome(
            query.user_id,
            "stopped" if kind == "stop" else "failed",
            fetch_id=fetch_id,
            error_kind=kind,
            error_code=cause.code,
            failed_pages=pages_txt,
            message=str(cause),
            action=getattr(cause, "action", None) if kind == "stop" else None,
            summary=cause.summary,
        )
        if partial is not None:
            outcome.pages = len(partial.pages)
            outcome.pages_reused = partial.pages_reused
            outcome.calls = partial.calls
            outcome.retries = partial.retries
            outcome.codes = dict(partial.codes)
            outcome.reported_total = partial.total
        if isinstance(cause, QuotaExceeded):
            self.state.set_stop("quota", next_quota_reset(), "daily quota exceeded (code 303)")
        calls = self.ledger.take(query.user_id)
        outcome.calls = outcome.calls or len(calls)
        row = FetchRow(
            fetch_id=fetch_id,
            user_id=query.user_id,
            run_id=self.run_id,
            advertise_switch=query.advertise_switch.value,
            order_type=query.order_type.value,
            note_type=query.note_type.value,
            is_third_platform=query.is_third_platform.value,
            is_full=query.is_unfiltered,
            status="failed",
            started_at=started_at,
            finished_at=datetime.now(UTC),
            reported_total=outcome.reported_total,
            reported_total_min=_min_total(partial),
            notes_returned=len(partial.notes) if partial else 0,
            pages=outcome.pages,
            pages_reused=outcome.pages_reused,
            calls=outcome.calls,
            retries=outcome.retries,
            null_metrics=0,
            duplicates_dropped=0,
            error_code=cause.code,
            error_kind=kind,
            failed_pages=pages_txt,
            message=outcome.message,
        )
        with self.warehouse.write() as conn:
            write_fetches(conn, [row], (), calls_frame(calls, self.run_id, fetch_id))
        if kind != "stop":
            # Stops are run-wide (token, quota, balance, budget): not this KOL's fault.
            self.state.record_failure(
                query.user_id,
                code=cause.code,
                error_kind=kind,
                failed_pages=pages_txt,
                message=outcome.message or "",
                run_id=self.run_id,
                retryable=outcome.retryable,
                cooldown_s=self.retry.cooldown_s,
                max_attempts=self.retry.max_attempts,
                filters=json.dumps(_filters(query)),
            )
        return outcome


def _filters(query: NotesQuery) -> dict[str, str]:
    return {
        "advertise_switch": query.advertise_switch.value,
        "order_type": query.order_type.value,
        "note_type": query.note_type.value,
        "is_third_platform": query.is_third_platform.value,
    }


def _min_total(result: FetchResult | None) -> int | None:
    totals = [p.total for p in result.pages if p.total is not None] if result else []
    return min(totals, default=None)


def _fetch_row(
    query: NotesQuery, fetch_id: str, run_id: str | None, status: str, started: datetime, result: FetchResult
) -> FetchRow:
    return FetchRow(
        fetch_id=fetch_id,
        user_id=query.user_id,
        run_id=run_id,
        advertise_switch=query.advertise_switch.value,
        order_type=query.order_type.value,
        note_type=query.note_type.value,
        is_third_platform=query.is_third_platform.value,
        is_full=query.is_unfiltered,
        status=status,
        started_at=started,
        finished_at=datetime.now(UTC),
        reported_total=result.total,
        reported_total_min=_min_total(result),
        notes_returned=len(result.notes),
        pages=len(result.pages),
        pages_reused=result.pages_reused,
        calls=result.calls,
        retries=result.retries,
        null_metrics=sum(p.null_metrics for p in result.pages),
        duplicates_dropped=result.duplicates_dropped,
        stop_reason=result.stop_reason,
    )


def _ok_outcome(query: NotesQuery, fetch_id: str, result: FetchResult, stats: WriteStats) -> KolOutcome:
    return KolOutcome(
        query.user_id,
        "ok",
        fetch_id=fetch_id,
        pages=len(result.pages),
        pages_reused=result.pages_reused,
        calls=result.calls,
        retries=result.retries,
        notes=len(result.notes),
        notes_new=stats.notes_new,
        marked_gone=stats.marked_gone,
        reported_total=result.total,
        null_metrics=sum(p.null_metrics for p in result.pages),
        duplicates_dropped=result.duplicates_dropped,
        complete=result.complete,
        stop_reason=result.stop_reason,
        codes=dict(Counter(result.codes)),
    )


@dataclass(frozen=True)
class RunTotals:
    """Run-level totals for metadata and the CLI summary."""

    kols: int
    kols_ok: int
    kols_failed: int
    kols_stopped: int
    pages: int
    pages_reused: int
    api_calls: int
    retries: int
    notes: int
    notes_new: int
    codes: dict[str, int]


def summarize(outcomes: Sequence[KolOutcome]) -> RunTotals:
    codes: Counter[int] = Counter()
    for o in outcomes:
        codes.update(o.codes)
    return RunTotals(
        kols=len(outcomes),
        kols_ok=sum(o.status == "ok" for o in outcomes),
        kols_failed=sum(o.status == "failed" for o in outcomes),
        kols_stopped=sum(o.status == "stopped" for o in outcomes),
        pages=sum(o.pages for o in outcomes),
        pages_reused=sum(o.pages_reused for o in outcomes),
        api_calls=sum(o.calls for o in outcomes),
        retries=sum(o.retries for o in outcomes),
        notes=sum(o.notes for o in outcomes),
        notes_new=sum(o.notes_new for o in outcomes),
        codes={str(k): v for k, v in sorted(codes.items())},
    )
