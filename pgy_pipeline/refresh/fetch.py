"""What a refresh's worker threads do: fetch one KOL, raw layer first, and hand it back.

Worker threads only fetch and append pages to the raw layer; the engine's own thread writes the
warehouse from what they hand back (refresh/engine.py, handoff.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pgy_pipeline.interrupts import Interrupt
from pgy_pipeline.justoneapi import (
    ApiError,
    FetchIncomplete,
    Interrupted,
    NotesDetailClient,
    NotesQuery,
    Page,
)
from pgy_pipeline.refresh.convert import page_from_stored, raw_from_page
from pgy_pipeline.refresh.handoff import Fetched
from pgy_pipeline.warehouse.raw import RawStore

log = logging.getLogger("pgy_pipeline.refresh.engine")  # the engine's log, as before the split


@dataclass(frozen=True)
class KolFetcher:
    """Fetches one KOL in a worker thread, resuming a recent unfinished fetch from its stored pages."""

    raw: RawStore
    run_id: str | None
    resume_max_age: timedelta
    clock: Callable[[], datetime]
    interrupt: Interrupt

    def __call__(
        self, client: NotesDetailClient, query: NotesQuery, stop_before: date | None
    ) -> Fetched | None:
        """The KOL's fetch, or None when an interrupt came before it began."""
        started = time.monotonic()
        user_id = query.user_id
        windowed = stop_before is not None
        if self.interrupt.requested:
            return None
        try:
            fp = query.fingerprint()
            # Full and incremental fetches ask for the same pages: either reuses the other's.
            now = self.clock()
            fetch_id = self.raw.resumable(user_id, fp, self.resume_max_age, now)
            stored = self.raw.pages(user_id, fetch_id) if fetch_id else {}
            known = {n: page_from_stored(rp, query) for n, rp in stored.items()}
            if any(page.drift is not None for page in known.values()):
                # A fetch that drifted stays as it is, for `pgy replay` once the code reads its shape
                # (then its pages parse without drift and it is resumed like any other). Until then a
                # new attempt is a new fetch: the vendor may have changed back.
                fetch_id, known = None, {}
            if fetch_id is None:
                fetch_id = self.raw.begin(user_id, fp, query.filters(), self.run_id, now)
        except Exception as exc:  # storage trouble must not kill the other KOLs
            log.exception("cannot prepare the fetch of %s", user_id)
            return Fetched(query, None, started, internal=f"raw layer: {exc}")
        started_at = min((p.fetched_at for p in known.values()), default=None)

        def persist(page: Page) -> None:
            self.raw.append(raw_from_page(page, fetch_id, self.run_id))

        try:
            with self.raw.syncing(user_id, fetch_id):  # pages durable before the writer gets them
                result = client.fetch_all(query, known_pages=known, on_page=persist, stop_before=stop_before)
        except FetchIncomplete as exc:
            if isinstance(exc.cause, Interrupted) and not (exc.result.pages or exc.result.calls):
                return None  # interrupted before its first call: not begun, nothing to record
            return Fetched(
                query,
                fetch_id,
                started,
                exc.result,
                exc.cause,
                exc.failed_pages,
                started_at,
                windowed=windowed,
            )
        except ApiError as exc:  # e.g. a stop raised before page 1
            return Fetched(query, fetch_id, started, None, exc, {}, started_at, windowed=windowed)
        except Exception as exc:
            log.exception("the fetch of %s failed outside the API", user_id)
            return Fetched(
                query, fetch_id, started, internal=f"{type(exc).__name__}: {exc}", windowed=windowed
            )
        first = min((p.fetched_at for p in result.pages), default=started_at)
        return Fetched(query, fetch_id, started, result, None, {}, first, windowed=windowed)
