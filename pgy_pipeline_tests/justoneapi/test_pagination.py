"""fetch_all over real HTTP: stop rules, drift, duplicates, cap, parallel pages, reuse and failures."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from pgy_pipeline.justoneapi import (
    CallRecord,
    FetchIncomplete,
    NotesDetailClient,
    NotesQuery,
    Page,
    PermissionDenied,
    QuotaExceeded,
    RetryableError,
    SchemaDrift,
)
from pgy_pipeline.simulator import Simulator
from pgy_pipeline_tests.support import MakeSim

from .helpers import Paged, envelope, vendor_note

PagedFactory = Callable[[Callable[[int, int], dict]], Paged]
ClientFactory = Callable[..., NotesDetailClient]
USER = "kol_p"


def expected_ids(sim: Simulator, user: str = USER, **filters: str) -> list[str]:
    return [n["noteId"] for n in sim.expected_notes(user, **filters)]


@pytest.mark.parametrize(
    ("count", "calls", "reason"),
    [
        (0, 1, "empty_page"),
        (1, 1, "total_reached"),
        (8, 1, "total_reached"),
        (9, 2, "total_reached"),
        (16, 2, "total_reached"),
        (17, 3, "total_reached"),
        (40, 5, "total_reached"),
    ],
)
def test_note_counts(
    count: int, calls: int, reason: str, make_sim: MakeSim, client_factory: ClientFactory
) -> None:
    sim = make_sim(fixed_counts={USER: count})
    result = client_factory(sim.base_url).fetch_all(NotesQuery(USER))
    assert [n.note_id for n in result.notes] == expected_ids(sim)
    assert (result.calls, result.stop_reason, result.complete) == (calls, reason, True)
    assert result.total == count and result.pages_fetched == calls and result.pages_reused == 0
    assert [p.page_number for p in result.pages] == list(range(1, calls + 1))
    assert result.codes == {0: calls} and result.http_statuses == {200: calls} and result.retries == 0
    assert sim.counters().calls_total == calls


def test_page_size_is_learned_not_assumed(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(page_size=5, fixed_counts={USER: 12})
    result = client_factory(sim.base_url).fetch_all(NotesQuery(USER))
    assert [n.note_id for n in result.notes] == expected_ids(sim)
    assert result.calls == 3


def test_filters_reach_the_api(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 60})
    query = NotesQuery(USER, advertise_switch="ORGANIC_ONLY", order_type="MOST_READ", note_type="VIDEO")
    result = client_factory(sim.base_url).fetch_all(query)
    filters = {"advertise_switch": "ORGANIC_ONLY", "order_type": "MOST_READ", "note_type": "VIDEO"}
    assert [n.note_id for n in result.notes] == expected_ids(sim, **filters)


@pytest.mark.parametrize("down", [False, True])
def test_total_drift(down: bool, make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 20}, total_drift=5, total_drift_down=down)
    client = client_factory(sim.base_url)
    outcomes = set()
    for _ in range(10):
        result = client.fetch_all(NotesQuery(USER))
        assert [n.note_id for n in result.notes] == expected_ids(sim)
        assert result.calls <= 5 and result.rereads <= 1
        # A re-read page keeps only its newer copy, but both answers' totals count.
        totals = [p.total for p in result.pages if p.total is not None]
        assert result.total is not None and result.total >= max(totals)
        # Complete only when some answer's total was reachable: an over-reported total on every page
        # read is indistinguishable from notes that were not listed.
        assert result.total_min is not None and result.total_min <= min(totals)
        assert result.complete == (result.total_min <= 20)
        assert result.stop_reason == ("total_reached" if result.complete else "short_of_total")
        outcomes.add(result.complete)
    assert True in outcomes


def test_duplicates_across_pages_are_dropped(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 24}, dup_across_pages=True)
    result = client_factory(sim.base_url).fetch_all(NotesQuery(USER))
    assert [n.note_id for n in result.notes] == expected_ids(sim)
    assert result.duplicates_dropped == 3 and result.calls == 4  # the 4th page is read one by one
    assert result.stop_reason == "total_reached"


def test_hostile_data_still_yields_the_truth(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(
        fixed_counts={USER: 30},
        dup_across_pages=True,
        total_drift=2,
        p_string_numbers=0.5,
        null_metric_share=0.2,
        extra_fields=True,
    )
    result = client_factory(sim.base_url).fetch_all(NotesQuery(USER))
    truth = sim.expected_notes(USER)
    assert [n.note_id for n in result.notes] == [n["noteId"] for n in truth]
    assert [n.read_num for n in result.notes] == [n["readNum"] for n in truth]
    assert [n.collect_num for n in result.notes] == [n["collectNum"] for n in truth]
    assert sum(p.null_metrics for p in result.pages) > 0
    assert all("xsecToken" in n.extra for n in result.notes)


def test_page_cap(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 40})
    result = client_factory(sim.base_url, max_pages=2).fetch_all(NotesQuery(USER))
    assert (result.stop_reason, result.complete, result.calls, len(result.notes)) == (
        "page_cap",
        False,
        2,
        16,
    )


def test_page_cap_without_total_reading_sequentially(
    make_sim: MakeSim, client_factory: ClientFactory
) -> None:
    sim = make_sim(fixed_counts={USER: 40})
    client = client_factory(sim.base_url, max_pages=1)
    result = client.fetch_all(NotesQuery(USER))
    assert (result.stop_reason, result.complete, result.calls) == ("page_cap", False, 1)


def test_parallel_pages_are_fetched_once_each(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 80}, latency_s=0.05)
    records: list[CallRecord] = []
    lock = threading.Lock()

    def observe(record: CallRecord) -> None:
        with lock:
            records.append(record)

    result = client_factory(sim.base_url, observer=observe, page_workers=4).fetch_all(NotesQuery(USER))
    assert len(result.notes) == 80 and result.calls == 10
    by_page = sim.counters().by_user_page
    assert by_page == {(USER, n): 1 for n in range(1, 11)}
    spans = [(r.at, r.at + timedelta(seconds=r.latency_s)) for r in records]
    overlap = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert 2 <= overlap <= 4


def test_on_page_sees_each_fresh_page_once_one_at_a_time(
    make_sim: MakeSim, client_factory: ClientFactory
) -> None:
    sim = make_sim(fixed_counts={USER: 50}, latency_s=0.01)
    seen: list[int] = []
    busy = threading.Lock()

    def on_page(page: Page) -> None:
        assert busy.acquire(blocking=False), "on_page entered concurrently"
        try:
            seen.append(page.page_number)
        finally:
            busy.release()

    result = client_factory(sim.base_url).fetch_all(NotesQuery(USER), on_page=on_page)
    assert sorted(seen) == [p.page_number for p in result.pages] == list(range(1, 8))


def test_known_pages_are_reused_without_calls(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 40})
    client = client_factory(sim.base_url)
    first = client.fetch_all(NotesQuery(USER))
    known = {p.page_number: p for p in first.pages if p.page_number in (1, 3)}
    sim.reset_counters()
    stored: list[int] = []
    result = client.fetch_all(
        NotesQuery(USER), known_pages=known, on_page=lambda p: stored.append(p.page_number)
    )
    assert set(sim.counters().by_user_page) == {(USER, 2), (USER, 4), (USER, 5)}
    assert (result.pages_reused, result.pages_fetched, result.calls) == (2, 3, 3)
    assert sorted(stored) == [2, 4, 5]
    assert [n.note_id for n in result.notes] == expected_ids(sim)
    assert result.pages[0] is known[1]


def test_known_pages_of_another_query_are_refused(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 10, "other": 10})
    client = client_factory(sim.base_url)
    page = client.get_page(NotesQuery(USER), 1)
    with pytest.raises(ValueError):
        client.fetch_all(NotesQuery("other"), known_pages={1: page})
    with pytest.raises(ValueError):
        client.fetch_all(NotesQuery(USER, note_type="VIDEO"), known_pages={1: page})
    with pytest.raises(ValueError):
        client.fetch_all(NotesQuery(USER), known_pages={2: page})


def test_failed_page_gives_partial_result_then_resume(
    make_sim: MakeSim, client_factory: ClientFactory
) -> None:
    sim = make_sim(fixed_counts={USER: 40})
    client = client_factory(sim.base_url, page_workers=2, max_attempts=2)
    stored: dict[int, Page] = {}

    def persist(page: Page) -> None:
        stored[page.page_number] = page
        if page.page_number == 1:
            sim.update(p_301=1.0)  # every later page fails with 301

    with pytest.raises(FetchIncomplete) as info:
        client.fetch_all(NotesQuery(USER), on_page=persist)
    error = info.value
    assert isinstance(error.cause, RetryableError) and error.retryable and not error.stop_all
    assert error.code == 301 and set(error.failed_pages.values()) == {301}
    assert [p.page_number for p in error.result.pages] == [1] == sorted(stored)
    assert not error.result.complete and error.result.stop_reason == "failed"
    assert error.result.codes[301] == error.result.calls - 1
    # In-flight pages finish, pending ones never start: at most the two workers' pages were tried.
    attempted = {page for (_, page) in sim.counters().by_user_page}
    assert attempted - {1} == set(error.failed_pages) and len(error.failed_pages) <= 2

    sim.update(p_301=0.0)
    sim.reset_counters()
    result = client.fetch_all(NotesQuery(USER), known_pages=stored, on_page=persist)
    assert (USER, 1) not in sim.counters().by_user_page
    assert [n.note_id for n in result.notes] == expected_ids(sim) and result.pages_reused == 1


def test_first_page_rejected(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(forbidden_users=frozenset({USER}))
    with pytest.raises(FetchIncomplete) as info:
        client_factory(sim.base_url).fetch_all(NotesQuery(USER))
    assert isinstance(info.value.cause, PermissionDenied) and info.value.failed_pages == {1: 600}
    assert info.value.result.pages == () and info.value.result.calls == 1


def test_stop_mid_fetch_then_immediate_refusal(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 80, "next": 8}, daily_quota=3, latency_s=0.01)
    client = client_factory(sim.base_url, page_workers=4)
    with pytest.raises(FetchIncomplete) as info:
        client.fetch_all(NotesQuery(USER))
    assert info.value.stop_all and isinstance(info.value.cause, QuotaExceeded)
    assert len(info.value.result.pages) == 3 and isinstance(client.stopped, QuotaExceeded)
    calls = sim.counters().calls_total
    assert calls <= 3 + 4
    with pytest.raises(FetchIncomplete) as again:
        client.fetch_all(NotesQuery("next"))
    assert isinstance(again.value.cause, QuotaExceeded) and again.value.result.calls == 0
    assert sim.counters().calls_total == calls


def test_on_page_failure_propagates(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 40})

    def broken(page: Page) -> None:
        if page.page_number == 2:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        client_factory(sim.base_url).fetch_all(NotesQuery(USER), on_page=broken)


def _page_of(ids: list[str], total: int) -> Callable[[int, int], dict]:
    """Answers for a Paged server: 8 of ``ids`` per page, every page claiming ``total``."""

    def answer(page: int, nth: int) -> dict:
        chunk = ids[(page - 1) * 8 : page * 8]
        return envelope(0, [vendor_note(note_id) for note_id in chunk], total=total)

    return answer


def _ids(count: int) -> list[str]:
    return [f"{i:024x}" for i in range(count)]


@pytest.mark.parametrize("workers", [2, 4])
def test_inflated_total_buys_no_pages_past_the_end(
    workers: int, paged_factory: PagedFactory, client_factory: ClientFactory
) -> None:
    paged = paged_factory(_page_of(_ids(24), total=2000))  # 3 pages exist, the total claims 250
    result = client_factory(paged.base_url, page_workers=workers).fetch_all(NotesQuery(USER))
    assert (result.stop_reason, result.complete, len(result.notes)) == ("short_of_total", False, 24)
    assert len(paged.calls) == result.calls <= 3 + workers
    assert (result.total, result.total_min) == (2000, 2000)


def test_an_empty_page_mid_list_is_read_again_once(
    paged_factory: PagedFactory, client_factory: ClientFactory
) -> None:
    full = _page_of(_ids(20), total=20)

    def answer(page: int, nth: int) -> dict:
        return envelope(0, [], total=20) if (page, nth) == (2, 0) else full(page, nth)

    paged = paged_factory(answer)
    stored: list[int] = []
    result = client_factory(paged.base_url).fetch_all(
        NotesQuery(USER), on_page=lambda p: stored.append(p.page_number)
    )
    assert (result.stop_reason, result.complete, len(result.notes)) == ("total_reached", True, 20)
    assert sorted(paged.calls) == [1, 2, 2, 3] and result.rereads == 1
    assert sorted(stored) == [1, 2, 2, 3]


def test_windowed_fetch_over_http(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 80})
    truth = sim.expected_notes(USER)
    stop_before = date.fromisoformat(truth[12]["date"])
    pages = [truth[k : k + 8] for k in range(0, 80, 8)]
    wanted = next(k for k, page in enumerate(pages, 1) if min(n["date"] for n in page) < str(stop_before))
    client = client_factory(sim.base_url, page_workers=4)
    result = client.fetch_all(NotesQuery(USER), stop_before=stop_before)
    assert (result.stop_reason, result.complete, result.windowed) == ("window_reached", False, True)
    assert result.calls == sim.counters().calls_total == wanted < 10
    assert [n.note_id for n in result.notes] == [n["noteId"] for n in truth[: 8 * wanted]]


def test_stop_before_is_refused_for_other_orders(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 8})
    client = client_factory(sim.base_url)
    with pytest.raises(ValueError, match="stop_before"):
        client.fetch_all(NotesQuery(USER, order_type="MOST_READ"), stop_before=date(2026, 1, 1))
    assert sim.counters().calls_total == 0


def test_a_drifted_page_is_stored_then_the_fetch_stops(
    paged_factory: PagedFactory, client_factory: ClientFactory
) -> None:
    def answer(page: int, nth: int) -> dict:
        notes = [vendor_note(f"{page:02d}{i:022x}", date=1772899200000) for i in range(8)]
        return envelope(
            0, notes if page == 2 else [vendor_note(f"{page:02d}{i:022x}") for i in range(8)], total=40
        )

    server = paged_factory(answer)
    stored: list[Page] = []
    client = client_factory(server.base_url, page_workers=1)
    with pytest.raises(FetchIncomplete) as caught:
        client.fetch_all(NotesQuery(USER), on_page=stored.append)
    assert isinstance(caught.value.cause, SchemaDrift) and caught.value.failed_pages == {2: "schema"}
    assert "date unreadable on 8 of 8 notes" in str(caught.value)
    # The drifted page reached the raw layer's hook; no page after it was bought.
    assert [p.page_number for p in stored] == [1, 2] and server.calls == [1, 2]
    assert [p.page_number for p in caught.value.result.pages] == [1]
