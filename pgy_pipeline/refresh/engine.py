"""The refresh engine: fetch every page of many KOLs (raw layer first), then write the warehouse.

The functional core the Dagster assets call; it knows nothing about Dagster. Many KOLs are fetched concurrently through one client (one shared, adaptive rate
limiter); finished KOLs are written to DuckDB in short group-commit transactions, and a
failure of one KOL never touches another's rows.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import date, timedelta

from pgy_pipeline.interrupts import Interrupt
from pgy_pipeline.justoneapi import (
    NoContent,
    NotesQuery,
    QuotaExceeded,
    StopAllCalls,
)
from pgy_pipeline.refresh.convert import (
    calls_frame,
    fetch_row,
)
from pgy_pipeline.refresh.fetch import KolFetcher
from pgy_pipeline.refresh.handoff import CallLedger, Fetched
from pgy_pipeline.refresh.outcomes import (
    ErrorKind,
    KolOutcome,
    KolStatus,
    error_kind,
    failed_outcome,
    not_started_outcome,
    ok_outcome,
)
from pgy_pipeline.refresh.parts import ClientOpener, RefreshSettings, Stores
from pgy_pipeline.refresh.plan import fetched_recently
from pgy_pipeline.warehouse import PublishError, WriteInterrupted
from pgy_pipeline.warehouse.replay import fetch_row_to_json
from pgy_pipeline.warehouse.state import next_quota_reset
from pgy_pipeline.warehouse.writes import FetchRow, write_fetches

log = logging.getLogger(__name__)


class Refresher:
    """Runs the refresh of many KOLs with one client; reports each outcome as it lands.

    Worker threads only fetch (and append pages to the raw layer). This thread writes
    what they finished to DuckDB with group commit: every KOL completed since the last
    write goes into one transaction, so a thousand KOLs cost a few hundred short write
    windows, not a thousand. A failed batch is retried KOL by KOL, so one bad KOL never
    takes others down with it.
    """

    def __init__(
        self,
        opener: ClientOpener,
        stores: Stores,
        how: RefreshSettings | None = None,
        run_id: str | None = None,
        on_outcome: Callable[[KolOutcome], None] | None = None,
        interrupt: Interrupt | None = None,
    ) -> None:
        self.ledger = CallLedger()
        # Flipped by SIGINT/SIGTERM (interrupts.stopping()): no new call, no new KOL; what is
        # complete is still written, the rest resumes in the next run.
        self.interrupt = interrupt or Interrupt()
        self.opener = opener
        self.warehouse, self.raw, self.state = stores.warehouse, stores.raw, stores.state
        self.how = how or RefreshSettings()
        self.run_id = run_id
        self.on_outcome = on_outcome
        self.clock = self.how.clock
        # Set when the last publish of a refresh failed: the snapshot readers open is stale.
        self.publish_error: str | None = None

    def refresh(
        self,
        user_ids: Sequence[str],
        filters: Mapping[str, str] | None = None,
        stop_before: Mapping[str, date] | None = None,
        recent_fetches: Mapping[str, str] | None = None,
    ) -> list[KolOutcome]:
        """Refresh ``user_ids`` in this order; a KOL in ``stop_before`` gets an incremental fetch
        (newest first, stopping at the first page reaching notes older than its date).

        ``recent_fetches``: the KOLs a plan (plan.py) found fetched recently, with that fetch; given, the
        raw layer is not searched again. None: this method looks for them itself.
        """
        windows = dict(stop_before or {})
        queries = [NotesQuery(u, **(filters or {})) for u in user_ids]  # validates before any call
        stop = self.state.active_stop()
        if stop:
            kind, until, reason = stop
            outs = [
                KolOutcome(
                    q.user_id,
                    KolStatus.STOPPED,
                    error_kind=ErrorKind.STOP,
                    message=f"{reason}; no calls until {until.isoformat()}",
                    summary=reason,
                    stop_kind=kind,
                    action=f"no calls until the quota resets at {until.isoformat()}; runs after that resume",
                )
                for q in queries
            ]
            for o in outs:
                self._report(o)
            return outs
        outcomes: dict[str, KolOutcome] = {}
        fresh_for, now = self.how.fresh_for, self.clock()
        for q in queries if fresh_for > timedelta(0) else []:
            # A KOL completed recently with the same filters (e.g. before a crash or by an
            # earlier run today) is not bought again.
            fetch_id = (
                recent_fetches.get(q.user_id)
                if recent_fetches is not None
                else fetched_recently(
                    self.raw, q.user_id, q.fingerprint(), fresh_for, now, incremental=q.user_id in windows
                )
            )
            if fetch_id:
                outcomes[q.user_id] = KolOutcome(
                    q.user_id, KolStatus.SKIPPED, fetch_id=fetch_id, message=f"fetched within {fresh_for}"
                )
                self._report(outcomes[q.user_id])
        queries_to_fetch = [q for q in queries if q.user_id not in outcomes]
        for outcome in self._fetch_and_store(queries_to_fetch, windows):
            outcomes[outcome.user_id] = outcome
        try:
            self.warehouse.publish_if_dirty()
        except PublishError as exc:
            # The outcomes stand: their data is committed (and sealed in the raw layer).
            self.publish_error = str(exc)
            log.error("%s", exc)
        return [outcomes[q.user_id] for q in queries]

    def _fetch_and_store(
        self, queries: list[NotesQuery], windows: Mapping[str, date]
    ) -> Iterator[KolOutcome]:
        """Fetch in worker threads; write, report and yield each KOL's outcome in this thread.

        At most ``unlanded_max`` KOLs are handed to the workers and not yet written: a KOL is
        handed over as another lands. When this thread is the bottleneck (no rate limit, KOLs
        of one page), the fetch waits for it rather than run ahead: the pages held in memory
        stay bounded, and what is left after the last call is at most that many KOLs to land.
        """
        waiting = iter(queries)
        with (
            self.opener.open(self.ledger) as client,
            ThreadPoolExecutor(max_workers=max(1, self.how.kol_workers), thread_name_prefix="kol") as pool,
        ):
            # Runs in the signal handler: no call starts after it, and sleeping retries wake up.
            forget = self.interrupt.on_request(lambda: client.interrupt(self.interrupt.name))
            fetch = KolFetcher(self.raw, self.run_id, self.how.resume_max_age, self.clock, self.interrupt)
            futures: dict[Future[Fetched | None], NotesQuery] = {}
            pending: set[Future[Fetched | None]] = set()

            def hand_over() -> None:
                room = max(self.how.unlanded_max, self.how.kol_workers) - len(futures)
                for q in itertools.islice(waiting, max(0, room)):
                    future = pool.submit(fetch, client, q, windows.get(q.user_id))
                    futures[future] = q
                    pending.add(future)

            try:
                hand_over()
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    if self.interrupt.requested:
                        for f in pending:
                            f.cancel()  # KOLs not begun stay so: nothing is bought or stored for them
                    fetched = [r for f in done if not f.cancelled() and (r := f.result()) is not None]
                    not_begun = [futures[f] for f in done if f.cancelled() or f.result() is None]
                    for f in done:  # a done future holds its KOL's pages: let them go once written
                        del futures[f]
                    del done
                    if self.interrupt.requested:
                        not_begun += list(waiting)  # never handed over
                    # Outcomes are written and reported from this thread (Dagster's event log is
                    # written from the step's own thread).
                    for outcome in self._store(fetched) + [
                        not_started_outcome(q.user_id, self.interrupt.name) for q in not_begun
                    ]:
                        self._report(outcome)
                        yield outcome
                    hand_over()
            finally:
                forget()

    def _report(self, outcome: KolOutcome) -> None:
        if self.on_outcome:
            self.on_outcome(outcome)

    # -- this thread: write and report -------------------------------------------------------

    def _store(self, batch: list[Fetched], again: bool = True) -> list[KolOutcome]:
        """Write ``batch`` and report each KOL; ``again``: an interrupted write is retried once."""
        if not batch:
            return []
        writable = [f for f in batch if f.internal is None and f.fetch_id is not None]
        rows = [self._row(f) for f in writable]
        fetch_ids = {f.query.user_id: f.fetch_id for f in writable if f.fetch_id}
        calls = [c for f in writable for c in self.ledger.take(f.query.user_id)]
        files = [
            self.raw.fetch_file(f.query.user_id, r.fetch_id)
            for f, r in zip(writable, rows, strict=True)
            if f.error is None
        ]
        outcomes: list[KolOutcome] = []
        try:
            with self.warehouse.write() as conn:
                frame = calls_frame(calls, self.run_id, fetch_ids)
                stats = write_fetches(conn, rows, files, frame, calls_may_be_stored=not again)
        except Exception as exc:
            if again and isinstance(exc, WriteInterrupted):
                # A signal cancelled the write, which rolled back; the stop is on now, so this one runs.
                log.warning("an interrupt cancelled the write of %d KOL(s); writing them again", len(batch))
                self.ledger.give_back(calls)
                return self._store(batch, again=False)
            if len(batch) > 1:
                log.warning("a group write of %d KOLs failed (%s); writing them one by one", len(batch), exc)
                self.ledger.give_back(calls)  # for the single writes
                return [o for f in batch for o in self._store([f], again)]
            log.exception("writing %s to DuckDB failed", batch[0].query.user_id)
            batch[0].internal = f"DuckDB write failed: {exc}"
            batch[0].unwritten = batch[0].error is None and batch[0].result is not None
            return self._timed(batch, self._not_written(batch))  # nothing to seal: nothing was written
        seals = []
        for f, row in zip(writable, rows, strict=True):
            if f.error is None:
                seals.append((f.query.user_id, row.fetch_id, fetch_row_to_json(row)))
                outcomes.append(ok_outcome(f.query.user_id, f.fetch_id, f.result, stats, windowed=f.windowed))
            else:
                # Its row is kept too, so that a rebuild from the raw layer has every fetch.
                self.raw.mark_failed(f.query.user_id, row.fetch_id, fetch_row_to_json(row))
                outcomes.append(self._failed(f))
        # Sealed only once DuckDB has them: a crash before this point resumes the fetches from
        # their stored pages at no cost, and the rewrite is idempotent.
        self.raw.mark_done_many(seals)
        # One state transaction for the batch (a commit each cost ~2 ms of the step's time per KOL).
        self.state.clear_failures([o.user_id for o in outcomes if o.status == KolStatus.OK])
        return self._timed(batch, outcomes + self._not_written(batch))

    @staticmethod
    def _not_written(batch: list[Fetched]) -> list[KolOutcome]:
        """The KOLs of ``batch`` that failed outside the API: storage, a bug, the DuckDB write."""
        return [
            KolOutcome(
                f.query.user_id,
                KolStatus.FAILED,
                fetch_id=f.fetch_id,
                error_kind=ErrorKind.INTERNAL,
                message=f.internal,
                unwritten=f.unwritten,
            )
            for f in batch
            if f.internal is not None or f.fetch_id is None
        ]

    @staticmethod
    def _timed(batch: list[Fetched], outcomes: list[KolOutcome]) -> list[KolOutcome]:
        now = time.monotonic()
        started = {f.query.user_id: f.started for f in batch}
        for o in outcomes:
            o.duration_s = now - started[o.user_id]
        return outcomes

    def _row(self, f: Fetched) -> FetchRow:
        return fetch_row(
            f.query,
            f.result,
            f.error,
            fetch_id=f.fetch_id or "",
            run_id=self.run_id,
            started_at=f.started_at,
            finished_at=self.clock(),
            failed_pages=f.failed_pages,
            windowed=f.windowed,
        )

    def _failed(self, f: Fetched) -> KolOutcome:
        cause = f.error
        assert cause is not None
        outcome = failed_outcome(f.query.user_id, f.fetch_id, cause, f.failed_pages, f.result)
        kind = error_kind(cause)
        if isinstance(cause, QuotaExceeded):
            self.state.set_stop(cause.stop_kind, next_quota_reset(), "daily quota exceeded (code 303)")
        if isinstance(cause, NoContent):
            # A filtered listing may well be empty; only the whole listing says the KOL has nothing.
            self.state.clear_failure(f.query.user_id)
            if f.query.is_unfiltered:
                self.state.mark_no_content(f.query.user_id, self.clock(), self.run_id)
        elif not isinstance(cause, StopAllCalls):
            # Stops are run-wide (token, quota, balance, budget, drift, interrupt): not this KOL's fault.
            self.state.record_failure(
                f.query.user_id,
                code=cause.code,
                error_kind=kind,
                failed_pages=outcome.failed_pages,
                message=outcome.message or "",
                run_id=self.run_id,
                retryable=outcome.retryable,
                cooldown_s=self.how.retry.cooldown_s,
                max_attempts=self.how.retry.max_attempts,
                filters=json.dumps(f.query.filters()),
            )
        return outcome
