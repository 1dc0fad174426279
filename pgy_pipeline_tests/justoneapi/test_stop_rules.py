"""The stop rules of fetch_all through its PageFetcher seam: what makes a fetch complete, what it costs."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest

from pgy_pipeline.justoneapi import (
    CallRecord,
    FetchIncomplete,
    FetchResult,
    Note,
    NotesQuery,
    Page,
    RetryableError,
)
from pgy_pipeline.justoneapi.client import fetch_all
from pgy_pipeline.justoneapi.models import CallTally
from pgy_pipeline.justoneapi.page_share import PageShare

QUERY = NotesQuery("kol_s")
NEWEST = date(2026, 3, 8)

# One answer of a page: (notes, total) or an exception to raise.
Answer = tuple[Sequence[Note], int | None] | Exception


def note(i: int, day: date | None = None) -> Note:
    return Note(
        note_id=f"{i:024x}",
        title=None,
        publish_date=day,
        is_video=False,
        is_advertise=False,
        brand_name=None,
        img_url=None,
        read_num=1,
        like_num=1,
        collect_num=1,
        third_read_user_num=0,
    )


def listing(count: int, *, dated: bool = True) -> list[Note]:
    """``count`` notes newest first, one day apart, as orderType=LATEST lists them."""
    return [note(i, NEWEST - timedelta(days=i) if dated else None) for i in range(count)]


class FakeApi:
    """A PageFetcher: ``answers[page]`` is the answer of each call in turn (the last one repeats).

    Pages without answers come back empty with ``default_total``. Calls take a few ms so that
    overlapping calls are seen as overlapping.
    """

    def __init__(self, answers: dict[int, list[Answer]], default_total: int | None = None) -> None:
        self.answers = answers
        self.default_total = default_total
        self.calls: Counter[int] = Counter()
        self.order: list[int] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    @classmethod
    def of(cls, notes: list[Note], total: int | None, size: int = 8) -> FakeApi:
        pages: dict[int, list[Answer]] = {
            k + 1: [(notes[k * size : (k + 1) * size], total)] for k in range(-(-len(notes) // size))
        }
        return cls(pages, default_total=total)

    def __call__(self, query: NotesQuery, number: int, tally: CallTally) -> Page:
        with self._lock:
            nth = self.calls[number]
            self.calls[number] += 1
            self.order.append(number)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(0.003)
        with self._lock:
            self.running -= 1
        script = self.answers.get(number) or [((), self.default_total)]
        answer = script[min(nth, len(script) - 1)]
        at = datetime.now(UTC)
        tally.add(CallRecord(query.user_id, number, 1, 200, 0, "ok", 0.003, None, at))
        if isinstance(answer, Exception):
            raise answer
        notes, total = answer
        return Page(
            user_id=query.user_id,
            page_number=number,
            query_params=query.to_params(number),
            total=total,
            notes=tuple(notes),
            raw_body="{}",
            http_status=200,
            code=0,
            message="success",
            request_id=None,
            record_time=None,
            fetched_at=at,
            attempts=1,
            latency_s=0.003,
        )

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def run(api: FakeApi, workers: int = 4, stop_before: date | None = None) -> tuple[FetchResult, list[int]]:
    """fetch_all over ``api``; also returns the page numbers on_page saw, in order."""
    seen: list[int] = []
    result = fetch_all(
        api,
        QUERY,
        max_pages=250,
        page_workers=workers,
        on_page=lambda page: seen.append(page.page_number),
        stop_before=stop_before,
    )
    return result, seen


# -- complete only on evidence ---------------------------------------------------------------


def test_empty_page_short_of_total_is_incomplete_and_keeps_its_notes() -> None:
    notes = listing(16)
    api = FakeApi({1: [(notes[:8], 24)], 2: [(notes[8:], 24)], 3: [((), 24)]})
    result, _ = run(api)
    assert (result.stop_reason, result.complete) == ("short_of_total", False)
    assert [n.note_id for n in result.notes] == [n.note_id for n in notes]
    assert api.calls == {1: 1, 2: 1, 3: 2} and result.rereads == 1


def test_a_reread_that_finds_the_notes_makes_the_fetch_complete() -> None:
    notes = listing(24)
    api = FakeApi({1: [(notes[:8], 24)], 2: [(notes[8:16], 24)], 3: [((), 24), (notes[16:], 24)]})
    result, seen = run(api)
    assert (result.stop_reason, result.complete, len(result.notes)) == ("total_reached", True, 24)
    assert result.calls == 4 and result.rereads == 1 and result.pages_fetched == 3
    assert sorted(seen) == [1, 2, 3, 3]  # both copies were bought, so both reach storage


@pytest.mark.parametrize(("workers", "calls"), [(1, {1: 1, 2: 2}), (4, {1: 1, 2: 1, 3: 1})])
def test_short_page_short_of_total_is_incomplete(workers: int, calls: dict[int, int]) -> None:
    notes = listing(11)
    api = FakeApi({1: [(notes[:8], 20)], 2: [(notes[8:], 20)], 3: [((), 20)]})
    result, _ = run(api, workers=workers)
    assert (result.stop_reason, result.complete, len(result.notes)) == ("short_of_total", False, 11)
    # Alone, the short page is re-read; with page 3 already read empty, the end needs no second look.
    assert api.calls == calls


def test_at_most_one_reread_per_fetch() -> None:
    notes = listing(24)
    api = FakeApi(
        {
            1: [(notes[:8], 32)],
            2: [((), 32), (notes[8:16], 32)],  # a glitch, settled by the re-read
            3: [(notes[16:], 32)],
            4: [((), 32)],  # then the list ends short of the total, and stays so
        }
    )
    result, _ = run(api)
    assert (result.stop_reason, result.complete, len(result.notes)) == ("short_of_total", False, 24)
    assert result.rereads == 1 and api.calls == {1: 1, 2: 2, 3: 1, 4: 1}


def test_an_end_corroborated_by_a_later_empty_page_is_not_reread() -> None:
    notes = listing(8)
    api = FakeApi({1: [(notes, 30)]}, default_total=30)
    result, _ = run(api, workers=4)
    assert result.stop_reason == "short_of_total" and result.rereads == 0
    assert max(api.calls.values()) == 1


def test_a_failed_reread_is_a_failed_page() -> None:
    notes = listing(16)
    glitch = RetryableError("collection failed", code=301, user_id=QUERY.user_id, page_number=3)
    api = FakeApi({1: [(notes[:8], 24)], 2: [(notes[8:], 24)], 3: [((), 24), glitch]})
    with pytest.raises(FetchIncomplete) as info:
        run(api)
    assert info.value.retryable and info.value.failed_pages == {3: 301}
    assert len(info.value.result.notes) == 16 and not info.value.result.complete


def test_total_zero_with_an_empty_first_page_is_complete() -> None:
    api = FakeApi({1: [((), 0)]})
    result, _ = run(api)
    assert (result.stop_reason, result.complete, result.calls) == ("empty_page", True, 1)


def test_an_empty_first_page_with_a_positive_total_is_a_contradiction() -> None:
    api = FakeApi({1: [((), 5)]})
    result, _ = run(api)
    assert (result.stop_reason, result.complete, result.calls) == ("short_of_total", False, 2)


@pytest.mark.parametrize("total", [None, 0])
def test_without_a_usable_total_a_fetch_is_never_complete(total: int | None) -> None:
    notes = listing(11)
    api = FakeApi({1: [(notes[:8], total)], 2: [(notes[8:], total)]})
    result, _ = run(api)
    assert (result.stop_reason, result.complete, len(result.notes)) == ("no_total", False, 11)
    assert result.calls == 2


def test_the_smallest_total_seen_decides() -> None:
    # Two notes deleted while paging: the total falls from 20 to 18 and the list ends at 18.
    notes = listing(18)
    api = FakeApi({1: [(notes[:8], 20)], 2: [(notes[8:16], 18)], 3: [(notes[16:], 18)]})
    result, _ = run(api)
    assert (result.stop_reason, result.complete) == ("total_reached", True)
    assert (result.total, result.total_min, result.rereads) == (20, 18, 0)


def test_a_full_page_with_a_drifting_total_reads_one_more_page() -> None:
    notes = listing(20)
    api = FakeApi({1: [(notes[:8], 16)], 2: [(notes[8:16], 18)], 3: [(notes[16:], 20)]})
    result, _ = run(api)
    assert (result.stop_reason, result.complete, len(result.notes)) == ("total_reached", True, 20)


# -- no pages bought past the end ------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2, 4, 8])
def test_an_inflated_total_costs_at_most_the_pages_in_flight(workers: int) -> None:
    api = FakeApi.of(listing(24), total=2000)  # three full pages, then empty ones
    result, _ = run(api, workers=workers)
    assert (result.stop_reason, result.complete, len(result.notes)) == ("short_of_total", False, 24)
    # A lone worker sees nothing past the end, so it spends its one re-read there.
    assert api.total_calls <= 3 + workers + (workers == 1)
    assert max(api.order) <= 3 + workers


# -- the window of an incremental fetch ------------------------------------------------------


def test_window_stops_after_the_first_page_reaching_back() -> None:
    notes = listing(80)
    api = FakeApi.of(notes, total=80)
    # Page 2 holds days 8..15, so it is the first page with a note older than day 12.
    result, _ = run(api, stop_before=NEWEST - timedelta(days=12))
    assert (result.stop_reason, result.complete, result.windowed) == ("window_reached", False, True)
    assert api.calls == {1: 1, 2: 1}
    assert [n.note_id for n in result.notes] == [n.note_id for n in notes[:16]]  # older ones kept


def test_window_kol_without_recent_notes_costs_one_page() -> None:
    api = FakeApi.of(listing(80), total=80)
    result, _ = run(api, stop_before=NEWEST + timedelta(days=30))
    assert (result.stop_reason, result.calls, result.complete) == ("window_reached", 1, False)


def test_window_reads_one_page_at_a_time() -> None:
    api = FakeApi.of(listing(80), total=80)
    result, _ = run(api, workers=8, stop_before=NEWEST - timedelta(days=30))
    assert result.stop_reason == "window_reached"
    assert api.order == [1, 2, 3, 4] and api.most_running == 1


def test_undated_notes_do_not_stop_the_window() -> None:
    notes = listing(8, dated=False) + listing(16)[8:]
    api = FakeApi.of(notes, total=40)
    result, _ = run(api, stop_before=NEWEST)
    # Page 1 says nothing about dates; page 2 reaches back (day 8 < day 0).
    assert (result.stop_reason, result.calls) == ("window_reached", 2)


def test_a_window_that_reads_the_whole_list_is_complete() -> None:
    api = FakeApi.of(listing(12), total=12)
    result, _ = run(api, stop_before=NEWEST - timedelta(days=365))
    assert (result.stop_reason, result.complete, result.windowed) == ("total_reached", True, True)
    assert result.calls == 2


@pytest.mark.parametrize("order", ["MOST_READ", "MOST_INTERACT"])
def test_stop_before_needs_the_latest_order(order: str) -> None:
    api = FakeApi.of(listing(8), total=8)
    query = NotesQuery(QUERY.user_id, order_type=order)
    with pytest.raises(ValueError, match="stop_before"):
        fetch_all(api, query, max_pages=250, page_workers=4, stop_before=NEWEST)
    assert api.total_calls == 0


# -- pages in flight shared by the fetches of one client -------------------------------------


def test_a_share_gives_the_slots_of_ended_fetches_to_those_still_running() -> None:
    share = PageShare(4)
    with share.joined() as alone:
        assert alone() == 4  # a fetch alone from the start keeps page_workers
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(share.joined())
        for _ in range(7):
            stack.enter_context(share.joined())
        assert first() == 4  # eight at once: four each, 32 in flight
        stack.close()
        with share.joined() as last, share.joined():
            assert last() == 16  # two left: the 32 split between them
        with share.joined() as last:
            assert last() == 32


def test_the_last_fetch_left_has_the_pages_in_flight_of_the_others() -> None:
    share = PageShare(4)
    with contextlib.ExitStack() as others:
        for _ in range(3):
            others.enter_context(share.joined())  # three fetches that end before the last one reads
    api = FakeApi.of(listing(200, dated=False), total=200)  # 25 pages
    with share.joined() as workers:
        result = fetch_all(api, QUERY, max_pages=250, page_workers=workers)
    assert result.complete and len(result.notes) == 200
    assert 4 < api.most_running <= 12  # three fetches were seen at once: 3 x 4 in flight
    assert api.total_calls == 25  # no page bought twice, none past the end
