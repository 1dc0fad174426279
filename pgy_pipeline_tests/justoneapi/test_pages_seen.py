"""The stop rules alone (stop_rules.PagesSeen): one rule per test, no HTTP, no threads.

test_stop_rules.py drives the same rules through fetch_all, where they meet the calls they cost.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pgy_pipeline.justoneapi import Note, Page
from pgy_pipeline.justoneapi.stop_rules import PagesSeen, Read, Reread, Stop

NEWEST = date(2026, 3, 8)
WINDOW = NEWEST - timedelta(days=30)


def notes(first: int, count: int, day: date | None = NEWEST) -> tuple[Note, ...]:
    return tuple(
        Note(f"{i:024x}", None, day, False, False, None, None, 1, 1, 1, 0)
        for i in range(first, first + count)
    )


def page(number: int, listed: tuple[Note, ...], total: int | None) -> Page:
    return Page(
        "kol",
        number,
        {},
        total,
        listed,
        "{}",
        200,
        0,
        None,
        None,
        None,
        datetime(2026, 3, 8, tzinfo=UTC),
        1,
        0.1,
    )


def seen(*pages: tuple[int, int | None], stop_before: date | None = None) -> PagesSeen:
    """Pages 1, 2, ... of (note count, total), their notes numbered on from page to page."""
    state, first = PagesSeen(stop_before), 0
    for number, (count, total) in enumerate(pages, start=1):
        state.add(number, page(number, notes(first, count), total), bought=True)
        first += count
    return state


def test_the_list_ending_at_the_total_is_complete() -> None:
    assert seen((8, 10), (2, 10)).next_step(250) == Stop("total_reached")


def test_an_empty_first_page_with_total_zero_is_complete() -> None:
    assert seen((0, 0)).next_step(250) == Stop("empty_page")


def test_a_full_page_may_end_the_fetch_only_on_a_unanimous_total() -> None:
    assert seen((8, 8)).next_step(250) == Stop("total_reached")


def test_a_full_page_reaching_a_drifting_total_reads_one_more_page() -> None:
    assert seen((8, 20), (8, 16)).next_step(250) == Read((3,))


def test_the_smallest_positive_total_is_the_evidence() -> None:
    assert seen((8, 12), (2, 10)).next_step(250) == Stop("total_reached")


def test_a_short_page_below_the_total_is_reread_once() -> None:
    state = seen((8, 20), (3, 20))
    assert state.next_step(250) == Reread(2)
    state.rereads += 1
    assert state.next_step(250) == Stop("short_of_total")


def test_an_end_corroborated_by_a_later_empty_page_is_not_reread() -> None:
    assert seen((8, 20), (3, 20), (0, 20)).next_step(250) == Stop("short_of_total")


def test_an_end_without_a_usable_total_is_no_total() -> None:
    assert seen((8, None), (3, None)).next_step(250) == Stop("no_total")
    assert seen((8, 0), (3, 0)).next_step(250) == Stop("no_total")  # 0 beside listed notes is no evidence


def test_the_page_cap_stops_a_list_that_goes_on() -> None:
    assert seen((8, 40)).next_step(1) == Stop("page_cap")


def test_the_next_pages_are_sized_by_the_largest_total_within_the_cap() -> None:
    assert seen((8, 40)).next_step(250) == Read((2, 3, 4, 5))
    assert seen((8, 40)).next_step(3) == Read((2, 3))


def test_a_window_stops_at_the_first_page_reaching_back() -> None:
    state = PagesSeen(stop_before=WINDOW)
    state.add(1, page(1, notes(0, 8, WINDOW - timedelta(days=1)), 40), bought=True)
    assert state.next_step(250) == Stop("window_reached")


def test_a_window_reads_one_page_at_a_time() -> None:
    assert seen((8, 40), stop_before=WINDOW).next_step(250) == Read((2,))


def test_undated_notes_do_not_reach_back() -> None:
    state = PagesSeen(stop_before=WINDOW)
    state.add(1, page(1, notes(0, 8, None), 40), bought=True)
    assert state.next_step(250) == Read((2,))


def test_a_reread_listing_fewer_notes_keeps_the_first_copy() -> None:
    state = seen((8, 20), (3, 20))
    state.add(2, page(2, notes(8, 1), 20), bought=True)
    assert len(state.pages[2].notes) == 3 and state.totals == [20, 20, 20]


def test_a_reused_page_is_not_counted_as_bought() -> None:
    state = PagesSeen()
    state.add(1, page(1, notes(0, 8), 20), bought=False)
    state.add(2, page(2, notes(8, 8), 20), bought=True)
    assert state.bought == {2}


def test_a_note_listed_twice_counts_once() -> None:
    state = PagesSeen()
    state.add(1, page(1, notes(0, 8), 15), bought=True)
    state.add(2, page(2, notes(7, 8), 15), bought=True)  # note 7 moved down a page while paging
    assert state.distinct_notes()[1] == 1
    assert state.next_step(250) == Stop("total_reached")
