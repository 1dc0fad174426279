"""Reading every page of one query: buying pages (one at a time, or a bounded window in parallel),
reusing known ones, handing each to the caller. When to stop is stop_rules.py's.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import date

from .errors import ApiError, FetchIncomplete, SchemaDrift, severity
from .models import COMPLETE_STOPS, CallRecord, FetchResult, Page, StopReason
from .params import NotesQuery, OrderType
from .stop_rules import PagesSeen, Reread, Stop

PageFetcher = Callable[[NotesQuery, int, "CallTally"], Page]
Workers = Callable[[], int]  # how many pages one fetch may have in flight now


class PageShare:
    """The pages in flight of the fetches one client runs at once, shared among them.

    Each fetch may have ``least`` pages in flight (``page_workers``). A run fetches several KOLs
    at once; at its end, when only its last KOLs are left, their pages would trail at ``least``
    each while the rate allows more (1,000 KOLs at 100 calls/s lost ~1.5 s there). So the slots of
    the fetches that ended go to those still running: each may have ``least`` times the most
    fetches seen at once, divided by those running now. The pages in flight never exceed what
    the client had at its fullest, and a fetch alone from the start keeps ``least``.
    """

    def __init__(self, least: int) -> None:
        self.least = max(1, least)
        self._lock = threading.Lock()
        self._running = 0
        self._most = 0

    @contextlib.contextmanager
    def joined(self) -> Iterator[Workers]:
        """One fetch running for the duration; yields its share, read again at each page it starts."""
        with self._lock:
            self._running += 1
            self._most = max(self._most, self._running)
        try:
            yield self.workers
        finally:
            with self._lock:
                self._running -= 1

    def workers(self) -> int:
        with self._lock:
            return max(self.least, self.least * self._most // max(1, self._running))


class CallTally:
    """Thread-safe counts of the HTTP attempts made for one fetch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.retries = 0
        self.codes: Counter[int] = Counter()
        self.http_statuses: Counter[int] = Counter()

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self.calls += 1
            self.retries += record.attempt > 1
            if record.code is not None:
                self.codes[record.code] += 1
            if record.http_status is not None:
                self.http_statuses[record.http_status] += 1


def _as_text(params: Mapping[str, object]) -> dict[str, str]:
    return {key: str(value) for key, value in params.items()}


def _check_known(query: NotesQuery, known_pages: Mapping[int, Page] | None) -> dict[int, Page]:
    known = dict(known_pages or {})
    for number, page in known.items():
        # A page of another user, filter or order holds other notes: reusing it would corrupt the result.
        if page.page_number != number or page.user_id != query.user_id:
            raise ValueError(f"known page {number} is page {page.page_number} of user {page.user_id}")
        # Compared as text: stored pages may have been through JSON or a database.
        if _as_text(page.query_params) != _as_text(query.to_params(number)):
            raise ValueError(f"known page {number} was fetched with other parameters than this query")
    return known


class _Fetch:
    """One fetch_all call: buys pages into ``seen`` (stop_rules.PagesSeen), from worker threads."""

    def __init__(
        self,
        fetch_page: PageFetcher,
        query: NotesQuery,
        known: dict[int, Page],
        on_page: Callable[[Page], None] | None,
        stop_before: date | None,
    ) -> None:
        self.fetch_page = fetch_page
        self.query = query
        self.known = known
        self.on_page = on_page
        self.seen = PagesSeen(stop_before)
        self.tally = CallTally()
        self.failures: dict[int, ApiError] = {}
        self._lock = threading.Lock()
        # One on_page at a time, so the caller's storage never sees concurrent writes from one fetch.
        self._on_page_lock = threading.Lock()

    # -- reading pages -----------------------------------------------------------------------

    def get(self, number: int, *, again: bool = False) -> Page:
        reused = None if again else self.known.get(number)
        page = reused if reused is not None else self.fetch_page(self.query, number, self.tally)
        if page.drift is not None:
            # Stored first (the raw layer keeps it for a replay once the code reads the new shape),
            # then the fetch stops: every later page would drift the same way, and each costs money.
            if reused is None and self.on_page is not None:
                with self._on_page_lock:
                    self.on_page(page)
            raise SchemaDrift(
                page.drift.detail,
                drift=page.drift,
                http_status=page.http_status,
                user_id=self.query.user_id,
                page_number=number,
            )
        with self._lock:
            self.seen.add(number, page, bought=reused is None)
        if reused is None and self.on_page is not None:
            with self._on_page_lock:
                self.on_page(page)
        return page

    def read(self, numbers: tuple[int, ...], workers: Workers, again: bool = False) -> None:
        """Read ``numbers`` (ascending); raise FetchIncomplete if any of them failed.

        ``again``: buy a single page once more though it was read (see ``reread``).
        """
        if len(numbers) == 1:
            try:
                self.get(numbers[0], again=again)
            except ApiError as exc:
                self.failures[numbers[0]] = exc
        else:
            self._read_window(numbers, workers)
        if self.failures:
            # Raised outside any except block, so no other exception rides along as its context.
            raise self.incomplete()

    def reread(self, number: int) -> None:
        self.seen.rereads += 1
        self.read((number,), lambda: 1, again=True)

    def _read_window(self, numbers: tuple[int, ...], workers: Workers) -> None:
        """At most ``workers()`` pages in flight (asked again as each one ends), started in page order.

        No page starts once one failed or came back empty or short: the list ends there whatever the
        total claims, so only pages already in flight are bought past it. Those finish and are kept.
        """
        queue: Iterator[int] = iter(numbers)
        other_error: BaseException | None = None
        halted = False
        # The pool makes a thread only when a page starts and none is idle: as many as are in flight.
        with ThreadPoolExecutor(len(numbers), thread_name_prefix="notes-page") as pool:
            running: dict[Future[Page], int] = {}

            def launch() -> None:
                room = max(1, workers()) - len(running)
                for number in itertools.islice(queue, max(0, room)):
                    running[pool.submit(self.get, number)] = number

            launch()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    number = running.pop(future)
                    error = future.exception()
                    if error is None:
                        halted = halted or self._ends_list(future.result())
                    elif isinstance(error, ApiError):
                        self.failures[number] = error
                        halted = True
                    else:
                        other_error = other_error or error
                        halted = True
                if not halted:
                    launch()
        if other_error is not None:
            raise other_error

    def _ends_list(self, page: Page) -> bool:
        with self._lock:  # pages still in flight may be adding theirs
            return self.seen.ends_list(page)

    # -- results -----------------------------------------------------------------------------

    def result(self, stop_reason: StopReason) -> FetchResult:
        seen = self.seen
        notes, duplicates = seen.distinct_notes()
        return FetchResult(
            query=self.query,
            pages=tuple(seen.pages[number] for number in sorted(seen.pages)),
            notes=notes,
            total=max(seen.totals, default=None),
            calls=self.tally.calls,
            pages_fetched=len(seen.bought),
            pages_reused=len(seen.pages) - len(seen.bought),
            codes=dict(self.tally.codes),
            http_statuses=dict(self.tally.http_statuses),
            retries=self.tally.retries,
            duplicates_dropped=duplicates,
            stop_reason=stop_reason,
            complete=stop_reason in COMPLETE_STOPS,
            total_min=min(seen.totals, default=None),
            windowed=seen.stop_before is not None,
            rereads=seen.rereads,
        )

    def incomplete(self) -> FetchIncomplete:
        failed = sorted(self.failures.items(), key=lambda item: (severity(item[1]), item[0]))
        cause = failed[0][1]
        failed_pages = {n: e.code if e.code is not None else e.kind for n, e in self.failures.items()}
        return FetchIncomplete(cause, self.result("failed"), failed_pages)


def fetch_all(
    fetch_page: PageFetcher,
    query: NotesQuery,
    *,
    max_pages: int,
    page_workers: int | Workers,
    known_pages: Mapping[int, Page] | None = None,
    on_page: Callable[[Page], None] | None = None,
    stop_before: date | None = None,
) -> FetchResult:
    """Every page of ``query``; see NotesDetailClient.fetch_all for the contract.

    ``page_workers``: the pages in flight at most, or a function that tells it as each page starts
    (a PageShare's).
    """
    if stop_before is not None and query.order_type is not OrderType.LATEST:
        # Only newest-first pages let one old note stand for every page after it.
        raise ValueError(f"stop_before needs order_type LATEST; got order_type {query.order_type.value}")
    fetch = _Fetch(fetch_page, query, _check_known(query, known_pages), on_page, stop_before)
    workers: Workers = page_workers if callable(page_workers) else lambda: page_workers
    fetch.read((1,), workers)
    while True:
        step = fetch.seen.next_step(max_pages)
        if isinstance(step, Stop):
            return fetch.result(step.reason)
        if isinstance(step, Reread):
            fetch.reread(step.page)
        else:
            fetch.read(step.pages, workers)
