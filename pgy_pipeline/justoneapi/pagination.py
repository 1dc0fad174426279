"""Reading every page of one query, with stop rules built on two facts: every call costs money, and the
warehouse marks notes "gone" only from complete fetches, so "complete" must rest on evidence.

The API's own account is the only evidence: the notes seen reach the reported total. An empty or short
page while the total says more is a contradiction (a glitch, or notes moving while we page), never proof
that the list is done. Page counts are learned, not assumed (the page size is undocumented), and parallel
pages are bought in a bounded window so that an inflated total cannot buy hundreds of empty pages.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import date

from .errors import ApiError, FetchIncomplete, SchemaDrift, severity
from .models import COMPLETE_STOPS, CallRecord, FetchResult, Note, Page, StopReason
from .params import NotesQuery, OrderType

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


def _reaches_back(page: Page, stop_before: date) -> bool:
    # Undated notes say nothing about where the window ends; they must not stop the fetch.
    dates = [note.publish_date for note in page.notes if note.publish_date is not None]
    return bool(dates) and min(dates) < stop_before


class _Fetch:
    """The state of one fetch_all call. Pages 1..len(pages) are always all present."""

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
        self.stop_before = stop_before
        self.tally = CallTally()
        self.pages: dict[int, Page] = {}
        self.fresh: set[int] = set()
        # Every total any page answered, including a copy replaced by a re-read.
        self.totals: list[int] = []
        self.rereads = 0
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
            if page.total is not None:
                self.totals.append(page.total)
            previous = self.pages.get(number)
            # A re-read that lists fewer notes than the first copy must not drop sightings already made.
            if previous is None or len(page.notes) >= len(previous.notes):
                self.pages[number] = page
                self.fresh.discard(number)
                if reused is None:
                    self.fresh.add(number)
        if reused is None and self.on_page is not None:
            with self._on_page_lock:
                self.on_page(page)
        return page

    def read(self, numbers: list[int], workers: int, again: bool = False) -> None:
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
        self.rereads += 1
        self.read([number], 1, again=True)

    def _read_window(self, numbers: list[int], workers: int) -> None:
        """At most ``workers`` pages in flight, started in page order.

        No page starts once one failed or came back empty or short: the list ends there whatever the
        total claims, so only pages already in flight are bought past it. Those finish and are kept.
        """
        queue: Iterator[int] = iter(numbers)
        other_error: BaseException | None = None
        halted = False
        with ThreadPoolExecutor(max(1, min(workers, len(numbers))), thread_name_prefix="notes-page") as pool:
            running: dict[Future[Page], int] = {}

            def launch() -> None:
                number = next(queue, None)
                if number is not None:
                    running[pool.submit(self.get, number)] = number

            for _ in range(workers):
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
                    for _ in done:
                        launch()
        if other_error is not None:
            raise other_error

    # -- what the pages say ------------------------------------------------------------------

    def page_size(self) -> int:
        with self._lock:
            return max((len(page.notes) for page in self.pages.values()), default=0)

    def _ends_list(self, page: Page) -> bool:
        return not page.notes or len(page.notes) < self.page_size()

    def end_page(self) -> int | None:
        """The first page that is empty or short (where the API says the list ends), if any."""
        size = self.page_size()
        return next((n for n in sorted(self.pages) if len(self.pages[n].notes) < max(size, 1)), None)

    def evidence_total(self) -> int | None:
        """The total the notes must reach to prove the fetch complete; None when no total is usable.

        The smallest positive total seen: totals drift mostly down as notes are deleted (60 one day, 58
        the next), and demanding the largest would leave every KOL who deletes a note during a fetch
        incomplete for ever. The risk, a total under-reported by a glitch, is contained by the other
        rules: after a full page the total must also be unanimous, otherwise one more page is read.
        A total of 0 beside listed notes is no evidence; 0 with no notes at all is the answer "none".
        """
        positive = [total for total in self.totals if total > 0]
        if positive:
            return min(positive)
        if any(page.notes for page in self.pages.values()):
            return None
        return 0 if 0 in self.totals else None

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

    def stop_reason(self) -> StopReason | None:
        """Why reading may stop after the pages read so far, or None to read on."""
        total = self.evidence_total()
        distinct = len(self.distinct_notes()[0])
        end = self.end_page()
        if end is not None and total is not None and distinct >= total:
            return "total_reached" if distinct else "empty_page"
        # After a full page the total alone may end the fetch only if every page agreed on it: a total
        # that drifted during the fetch may be under-reported, and one more call settles it.
        if end is None and total and distinct == total and len(set(self.totals)) == 1:
            return "total_reached"
        if self.stop_before is not None and any(
            _reaches_back(page, self.stop_before) for page in self.pages.values()
        ):
            return "window_reached"
        if end is not None:
            return "no_total" if total is None else "short_of_total"
        return None

    def worth_rereading(self, end: int) -> bool:
        # An empty page read after the end already says the list ends there: a second read of the end
        # page would only repeat it (and would push the cost of an inflated total past the pages in flight).
        later = [page for number, page in self.pages.items() if number > end]
        corroborated = bool(later) and not any(page.notes for page in later)
        return self.rereads == 0 and not corroborated

    def next_pages(self, max_pages: int) -> list[int]:
        last = len(self.pages)
        largest = max(self.totals, default=0)
        size = self.page_size()
        # Windowed fetches read in order, one page at a time: most KOLs need one page, and every page
        # bought past the window is wasted money, so a lookahead would cost more than it saves.
        if self.stop_before is not None or not largest or not size:
            return [last + 1]
        # The largest total, since it only sizes the window: an inflated one costs at most the pages in
        # flight when the first empty or short page comes back.
        expected = min(math.ceil(largest / size), max_pages)
        return list(range(last + 1, expected + 1)) if expected > last else [last + 1]

    # -- results -----------------------------------------------------------------------------

    def result(self, stop_reason: StopReason) -> FetchResult:
        notes, duplicates = self.distinct_notes()
        return FetchResult(
            query=self.query,
            pages=tuple(self.pages[number] for number in sorted(self.pages)),
            notes=notes,
            total=max(self.totals, default=None),
            calls=self.tally.calls,
            pages_fetched=len(self.fresh),
            pages_reused=len(self.pages) - len(self.fresh),
            codes=dict(self.tally.codes),
            http_statuses=dict(self.tally.http_statuses),
            retries=self.tally.retries,
            duplicates_dropped=duplicates,
            stop_reason=stop_reason,
            complete=stop_reason in COMPLETE_STOPS,
            total_min=min(self.totals, default=None),
            windowed=self.stop_before is not None,
            rereads=self.rereads,
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
    page_workers: int,
    known_pages: Mapping[int, Page] | None = None,
    on_page: Callable[[Page], None] | None = None,
    stop_before: date | None = None,
) -> FetchResult:
    """Every page of ``query``; see NotesDetailClient.fetch_all for the contract."""
    if stop_before is not None and query.order_type is not OrderType.LATEST:
        # Only newest-first pages let one old note stand for every page after it.
        raise ValueError(f"stop_before needs order_type LATEST; got order_type {query.order_type.value}")
    fetch = _Fetch(fetch_page, query, _check_known(query, known_pages), on_page, stop_before)
    fetch.read([1], page_workers)
    while True:
        reason = fetch.stop_reason()
        end = fetch.end_page()
        if reason == "short_of_total" and end is not None and fetch.worth_rereading(end):
            # Once per fetch: a page that comes back empty or short mid-list can be a passing glitch,
            # and an incomplete fetch cannot mark notes gone (the next full fetch of this KOL costs every
            # page again). One more call usually settles it; a second would rarely add anything.
            fetch.reread(end)
            continue
        if reason is not None:
            return fetch.result(reason)
        if len(fetch.pages) >= max_pages:
            return fetch.result("page_cap")
        fetch.read(fetch.next_pages(max_pages), page_workers)
