"""The refresh engine: fetch every page of many KOLs (raw layer first), then land them.

The functional core the Dagster assets call; it knows nothing about Dagster. Many KOLs are
fetched at once through one client (one shared rate limiter): what each worker thread does is
``KolFetcher``, below. The engine's own thread lands what they hand back (landing.py: short
group-commit transactions, and a failure of one KOL never touches another's rows) and reports
each outcome.
"""

from __future__ import annotations

import errno
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
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
from pgy_pipeline.refresh.handoff import CallLedger, Fetched
from pgy_pipeline.refresh.landing import Lander
from pgy_pipeline.refresh.outcomes import ErrorKind, KolOutcome, KolStatus, not_started_outcome
from pgy_pipeline.refresh.parts import ClientOpener, RefreshSettings, Stores
from pgy_pipeline.refresh.plan import fetched_recently
from pgy_pipeline.warehouse import PublishError
from pgy_pipeline.warehouse.raw import RawStore

log = logging.getLogger(__name__)


class Refresher:
    """Runs the refresh of many KOLs with one client; reports each outcome as it lands.

    Worker threads only fetch (and append pages to the raw layer). This thread lands what
    they finished with group commit (landing.py): every KOL completed since the last write
    goes into one transaction, so a thousand KOLs cost a few hundred short write windows,
    not a thousand.
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
        self.lander = Lander(stores, self.ledger, run_id, self.how.retry, self.clock)
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
        for outcome in self._fetch_and_land(queries_to_fetch, windows):
            outcomes[outcome.user_id] = outcome
        try:
            self.warehouse.publish_if_dirty()
        except PublishError as exc:
            # The outcomes stand: their data is committed (and sealed in the raw layer).
            self.publish_error = str(exc)
            log.error("%s", exc)
        return [outcomes[q.user_id] for q in queries]

    def _fetch_and_land(self, queries: list[NotesQuery], windows: Mapping[str, date]) -> Iterator[KolOutcome]:
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
                    for outcome in self.lander.land(fetched) + [
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


# A disk that cannot take a page: full, over quota, read-only.
STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


@dataclass(frozen=True)
class KolFetcher:
    """Fetches one KOL in a worker thread, resuming a recent unfinished fetch from its stored pages."""

    raw: RawStore
    run_id: str | None
    resume_max_age: timedelta
    clock: Callable[[], datetime]
    interrupt: Interrupt
    # Errors outside the API whose traceback was logged: a full disk fails every KOL the same way,
    # and one traceback says it (each KOL still gets a line).
    told: set[str] = field(default_factory=set)
    # The raw layer's disk is full or read-only (its error): a KOL fetched now would buy pages it
    # cannot keep, so none begins; in flight, the others stop at their next page.
    full: list[str] = field(default_factory=list)

    def __call__(
        self, client: NotesDetailClient, query: NotesQuery, stop_before: date | None
    ) -> Fetched | None:
        """The KOL's fetch, or None when an interrupt came before it began."""
        started = time.monotonic()
        user_id = query.user_id
        windowed = stop_before is not None
        if self.interrupt.requested:
            return None
        if self.full:
            log.error(
                "the fetch of %s was not begun: the raw layer cannot keep pages (%s)", user_id, self.full[0]
            )
            return Fetched(
                query, None, started, internal=f"raw layer: {self.full[0]}; not begun, nothing bought"
            )
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
            self._failed("cannot prepare the fetch of %s", user_id, exc)
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
            self._failed("the fetch of %s failed outside the API", user_id, exc)
            return Fetched(
                query, fetch_id, started, internal=f"{type(exc).__name__}: {exc}", windowed=windowed
            )
        first = min((p.fetched_at for p in result.pages), default=started_at)
        return Fetched(query, fetch_id, started, result, None, {}, first, windowed=windowed)

    def _failed(self, what: str, user_id: str, exc: Exception) -> None:
        """A KOL failed outside the API: a full disk stops the KOLs not begun yet; log it."""
        if isinstance(exc, OSError) and exc.errno in STORAGE_FULL and not self.full:
            self.full.append(str(exc))
        self._log(what, user_id, exc)

    def _log(self, what: str, user_id: str, exc: Exception) -> None:
        """A KOL's failure outside the API (``what``: a format of its user id), with its traceback
        the first time the run meets that error."""
        error = f"{type(exc).__name__}: {exc}"
        if error in self.told:
            log.error(f"{what}: %s (the same error as above: its traceback is there)", user_id, error)
            return
        self.told.add(error)
        log.exception(what, user_id)
