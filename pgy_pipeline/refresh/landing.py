"""Landing: what the refresh's own thread does with the fetches its workers hand back.

It writes a batch of KOLs to the warehouse in one transaction (group commit), then seals their
fetches in the raw layer and records each failure in the pipeline's state; the engine reports
the outcomes (refresh/engine.py). A failed group write is retried KOL by KOL, so one bad KOL
never takes others down with it.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from pgy_pipeline.justoneapi import NoContent, QuotaExceeded, StopAllCalls
from pgy_pipeline.refresh.convert import calls_frame, fetch_row
from pgy_pipeline.refresh.handoff import CallLedger, Fetched
from pgy_pipeline.refresh.outcomes import (
    ErrorKind,
    KolOutcome,
    KolStatus,
    error_kind,
    failed_outcome,
    ok_outcome,
)
from pgy_pipeline.refresh.parts import Stores
from pgy_pipeline.warehouse import WriteInterrupted
from pgy_pipeline.warehouse.replay import fetch_row_to_json
from pgy_pipeline.warehouse.state import RetryPolicy, next_quota_reset
from pgy_pipeline.warehouse.writes import FetchRow, write_fetches

log = logging.getLogger("pgy_pipeline.refresh.engine")  # the engine's log, as before the split


class Lander:
    """Lands the KOLs a refresh fetched: writes them, seals them, records their failures."""

    def __init__(
        self,
        stores: Stores,
        ledger: CallLedger,
        run_id: str | None,
        retry: RetryPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self.warehouse, self.raw, self.state = stores.warehouse, stores.raw, stores.state
        self.ledger = ledger
        self.run_id = run_id
        self.retry = retry
        self.clock = clock

    def land(self, batch: list[Fetched], again: bool = True) -> list[KolOutcome]:
        """Write ``batch`` and seal it; each KOL's outcome. ``again``: an interrupted write is retried once."""
        writable = [f for f in batch if f.internal is None and f.fetch_id is not None]
        rows = [self._row(f) for f in writable]
        fetch_ids = {f.query.user_id: f.fetch_id for f in writable if f.fetch_id}
        # Every call goes in the spend ledger, a KOL's that failed before it had a row (the raw
        # layer, a bug) too: with no fetch row to point to (fetch_id NULL).
        calls = [c for f in batch for c in self.ledger.take(f.query.user_id)]
        bought = Counter(c.user_id for c in calls)
        if not writable and not calls:
            return self._timed(batch, self._not_written(batch, bought))
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
                return self.land(batch, again=False)
            if len(batch) > 1:
                log.warning("a group write of %d KOLs failed (%s); writing them one by one", len(batch), exc)
                self.ledger.give_back(calls)  # for the single writes
                return [o for f in batch for o in self.land([f], again)]
            log.exception("writing %s to DuckDB failed", batch[0].query.user_id)
            batch[0].internal = f"DuckDB write failed: {exc}"
            batch[0].unwritten = batch[0].error is None and batch[0].result is not None
            # Nothing to seal: nothing was written.
            return self._timed(batch, self._not_written(batch, bought))
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
        return self._timed(batch, outcomes + self._not_written(batch, bought))

    @staticmethod
    def _not_written(batch: list[Fetched], bought: Counter[str]) -> list[KolOutcome]:
        """The KOLs of ``batch`` that failed outside the API: storage, a bug, the DuckDB write."""
        return [
            KolOutcome(
                f.query.user_id,
                KolStatus.FAILED,
                fetch_id=f.fetch_id,
                error_kind=ErrorKind.INTERNAL,
                message=f.internal,
                unwritten=f.unwritten,
                calls=bought[f.query.user_id],  # bought all the same
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
                cooldown_s=self.retry.cooldown_s,
                max_attempts=self.retry.max_attempts,
                filters=json.dumps(f.query.filters()),
            )
        return outcome
