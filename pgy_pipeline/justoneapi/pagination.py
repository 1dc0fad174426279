"""Reading every page of one query, with explicit stop rules (every call costs money).

Page 1 comes first: it gives the total and the page size (the notes on a full page; never assumed to be
8). Pages 2..ceil(total/size) are then fetched in parallel. After that, pages are read one by one while
the last page was full and the notes are not accounted for: fewer distinct notes than the largest reported
total, or a total that changed between pages (it drifts, and notes move between pages while paging, so a
drifting total may be under-reported). The fetch stops on an empty page, on a short page (reason
"total_reached" when the distinct notes reach the total, else "short_page"), on a full page whose
distinct notes equal a total every page agreed on, or at the hard page cap (the result is then
marked incomplete).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

from .errors import ApiError, FetchIncomplete, severity
from .models import CallRecord, FetchResult, Note, Page, StopReason
from .params import NotesQuery

PageFetcher = Callable[[NotesQuery, int, "CallTally"], Page]


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
    """The state of one fetch_all call."""

    def __init__(
        self,
        fetch_page: PageFetcher,
        query: NotesQuery,
        known: dict[int, Page],
        on_page: Callable[[Page], None] | None,
    ) -> None:
        self.fetch_page = fetch_page
        self.query = query
        self.known = known
        self.on_page = on_page
        self.tally = CallTally()
        self.pages: dict[int, Page] = {}
        self.fresh: set[int] = set()
        self.failures: dict[int, ApiError] = {}
        self._lock = threading.Lock()
        # One on_page at a time, so the caller's storage never sees concurrent writes from one fetch.
        self._on_page_lock = threading.Lock()

    def get(self, number: int) -> Page:
        reused = self.known.get(number)
        if reused is not None:
            with self._lock:
                self.pages[number] = reused
            return reused
        page = self.fetch_page(self.query, number, self.tally)
        with self._lock:
            self.pages[number] = page
            self.fresh.add(number)
        if self.on_page is not None:
            with self._on_page_lock:
                self.on_page(page)
        return page

    def _get_unless_aborted(self, number: int, abort: threading.Event) -> Page | None:
        # Checked in the worker itself: a worker that just failed would otherwise take the next queued
        # page before the coordinating thread gets to cancel it.
        if abort.is_set():
            return None
        try:
            return self.get(number)
        except BaseException:
            abort.set()
            raise

    def get_many(self, numbers: list[int], workers: int) -> None:
        """Fetch pages in parallel; on the first failure start no new page, let running ones finish."""
        if not numbers:
            return
        other_error: BaseException | None = None
        abort = threading.Event()
        with ThreadPoolExecutor(max(1, min(workers, len(numbers))), thread_name_prefix="notes-page") as pool:
            futures: dict[Future[Page | None], int] = {
                pool.submit(self._get_unless_aborted, number, abort): number for number in numbers
            }
            for future in as_completed(futures):
                if future.cancelled():
                    continue
                error = future.exception()
                if error is None:
                    continue
                if isinstance(error, ApiError):
                    self.failures[futures[future]] = error
                elif other_error is None:
                    other_error = error
                for pending in futures:
                    pending.cancel()
        if other_error is not None:
            raise other_error

    def max_total(self) -> int | None:
        totals = [page.total for page in self.pages.values() if page.total is not None]
        return max(totals) if totals else None

    def distinct_notes(self) -> tuple[tuple[Note, ...], int]:
        seen: set[str] = set()
        notes: list[Note] = []
        duplicates = 0
        for number in sorted(self.pages):
            for note in self.pages[number].notes:
                if note.note_id in seen:
                    duplicates += 1
                    continue
                seen.add(note.note_id)
                notes.append(note)
        return tuple(notes), duplicates

    def stop_reason(self, last: int) -> StopReason | None:
        """Why reading may stop after pages 1..last, or None to read on."""
        pages = [self.pages[number] for number in range(1, last + 1)]
        if any(not page.notes for page in pages):
            return "empty_page"
        totals = {page.total for page in pages if page.total is not None}
        # A total of 0 beside notes is no evidence at all; the page rules decide then.
        total = max(totals) if totals and max(totals) > 0 else None
        distinct = len(self.distinct_notes()[0])
        size = max(len(page.notes) for page in pages)
        if len(pages[-1].notes) < size:
            return "total_reached" if total is not None and distinct >= total else "short_page"
        # After a full page the total alone may end the fetch only if every page agreed on it: a total
        # that drifted during the fetch may be under-reported, and one more call settles it.
        if total is not None and len(totals) == 1 and distinct == total:
            return "total_reached"
        return None

    def result(self, stop_reason: StopReason, complete: bool) -> FetchResult:
        notes, duplicates = self.distinct_notes()
        return FetchResult(
            query=self.query,
            pages=tuple(self.pages[number] for number in sorted(self.pages)),
            notes=notes,
            total=self.max_total(),
            calls=self.tally.calls,
            pages_fetched=len(self.fresh),
            pages_reused=len(self.pages) - len(self.fresh),
            codes=dict(self.tally.codes),
            http_statuses=dict(self.tally.http_statuses),
            retries=self.tally.retries,
            duplicates_dropped=duplicates,
            stop_reason=stop_reason,
            complete=complete,
        )

    def incomplete(self) -> FetchIncomplete:
        failed = sorted(self.failures.items(), key=lambda item: (severity(item[1]), item[0]))
        cause = failed[0][1]
        failed_pages = {n: e.code if e.code is not None else e.kind for n, e in self.failures.items()}
        return FetchIncomplete(cause, self.result("failed", complete=False), failed_pages)


def fetch_all(
    fetch_page: PageFetcher,
    query: NotesQuery,
    *,
    max_pages: int,
    page_workers: int,
    known_pages: Mapping[int, Page] | None = None,
    on_page: Callable[[Page], None] | None = None,
) -> FetchResult:
    """Every page of ``query``; see NotesDetailClient.fetch_all for the contract."""
    fetch = _Fetch(fetch_page, query, _check_known(query, known_pages), on_page)
    try:
        fetch.get(1)
    except ApiError as exc:
        fetch.failures[1] = exc
    if fetch.failures:
        # Raised outside the except block, so no other exception rides along as its context.
        raise fetch.incomplete()

    last = 1
    reason = fetch.stop_reason(last)
    total = fetch.max_total()
    if reason is None and total:
        size = len(fetch.pages[1].notes)
        last = min(math.ceil(total / size), max_pages)
        fetch.get_many(list(range(2, last + 1)), page_workers)
        if fetch.failures:
            raise fetch.incomplete()
        reason = fetch.stop_reason(last)

    while reason is None:
        if last >= max_pages:
            return fetch.result("page_cap", complete=False)
        last += 1
        try:
            fetch.get(last)
        except ApiError as exc:
            fetch.failures[last] = exc
        if fetch.failures:
            raise fetch.incomplete()
        reason = fetch.stop_reason(last)
    return fetch.result(reason, complete=True)
