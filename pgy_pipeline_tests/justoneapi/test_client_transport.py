"""One page over real HTTP: transport faults, retries and timeouts, validation, hooks, session lifecycle."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from pgy_pipeline.justoneapi import (
    BudgetExhausted,
    CallRecord,
    NotesDetailClient,
    NotesQuery,
    RateLimiter,
    RequestRejected,
    RetryableError,
    SlowDownError,
    StopAllCalls,
    limiter_key,
)
from pgy_pipeline_tests.support import MakeSim

from .helpers import TOKEN, Flip, Scripted, envelope, vendor_note

ClientFactory = Callable[..., NotesDetailClient]
USER = "kol_a"


def test_redirects_are_not_followed(scripted: Scripted, client_factory: ClientFactory) -> None:
    scripted.push(302, b"", {"Location": "http://127.0.0.1:9/elsewhere"})
    with pytest.raises(RequestRejected, match="redirect"):
        client_factory(scripted.base_url).get_page(NotesQuery(USER), 1)
    assert len(scripted.paths) == 1


@pytest.mark.parametrize(
    ("fault", "status"),
    [("p_html_502", 502), ("p_http_503", 503), ("p_truncated", 200)],
)
def test_transient_http_faults_are_retried(
    fault: str, status: int, make_sim: MakeSim, client_factory: ClientFactory
) -> None:
    sim = make_sim(**{fault: 1.0})
    calls = Flip(lambda: sim.update(**{fault: 0.0}))
    page = client_factory(sim.base_url, observer=calls).get_page(NotesQuery(USER), 1)
    assert page.attempts == 2
    first = calls.records[0]
    assert (first.outcome, first.http_status) == ("retry", status) and first.error


def test_http_429_honours_retry_after(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(p_http_429=1.0, retry_after_s=1)
    calls = Flip(lambda: sim.update(p_http_429=0.0))
    # Base 0: without Retry-After the wait would be 0; with it, 1 s capped to backoff_max_s.
    client = client_factory(sim.base_url, observer=calls, backoff_base_s=0.0, backoff_max_s=0.15)
    started = time.monotonic()
    page = client.get_page(NotesQuery(USER), 1)
    elapsed = time.monotonic() - started
    assert page.attempts == 2 and calls.records[0].outcome == "slow_down"
    assert calls.records[0].http_status == 429
    assert 0.15 <= elapsed < 1.0


def test_stall_times_out_then_retries(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(p_stall=1.0, stall_s=0.6, stall_drop_share=0.0)
    calls = Flip(lambda: sim.update(p_stall=0.0))
    page = client_factory(sim.base_url, observer=calls, read_timeout_s=0.2).get_page(NotesQuery(USER), 1)
    assert page.attempts == 2
    first = calls.records[0]
    assert first.outcome == "retry" and first.http_status is None and "timed out" in (first.error or "")


def test_dropped_connection_is_retried(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(p_stall=1.0, stall_s=0.0, stall_drop_share=1.0)
    calls = Flip(lambda: sim.update(p_stall=0.0))
    page = client_factory(sim.base_url, observer=calls).get_page(NotesQuery(USER), 1)
    assert page.attempts == 2 and calls.records[0].outcome == "retry"


def test_connection_refused_is_retryable(closed_port_url: str, client_factory: ClientFactory) -> None:
    calls = Flip()
    client = client_factory(closed_port_url, observer=calls, max_attempts=2)
    with pytest.raises(RetryableError) as info:
        client.get_page(NotesQuery(USER), 1)
    assert info.value.kind == "connection_error" and info.value.http_status is None
    assert "refused" in str(info.value).lower()
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert [r.outcome for r in calls.records] == ["retry", "retry"]


@pytest.mark.parametrize(
    "build",
    [
        lambda: NotesQuery("bad id"),
        lambda: NotesQuery(USER, note_type="REELS"),
        lambda: NotesQuery(USER, advertise_switch="organic_only"),
    ],
)
def test_invalid_queries_never_reach_the_server(
    build: Callable[[], NotesQuery], make_sim: MakeSim, client_factory: ClientFactory
) -> None:
    sim = make_sim()
    client = client_factory(sim.base_url)
    with pytest.raises(ValueError):
        client.get_page(build(), 1)
    with pytest.raises(ValueError):
        client.get_page(NotesQuery(USER), 0)
    assert sim.counters().calls_total == 0


def test_before_call_budget_stops_without_a_request(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim()
    spent: list[int] = []

    def governor() -> None:
        if len(spent) >= 2:
            raise BudgetExhausted("run budget of 2 calls spent")
        spent.append(1)

    client = client_factory(sim.base_url, before_call=governor)
    client.get_page(NotesQuery(USER), 1)
    client.get_page(NotesQuery(USER), 2)
    with pytest.raises(BudgetExhausted) as info:
        client.get_page(NotesQuery(USER), 3)
    assert info.value.page_number == 3 and "budget" in str(info.value)
    assert isinstance(client.stopped, StopAllCalls)
    assert sim.counters().calls_total == 2


def test_a_failing_observer_does_not_break_the_call(
    make_sim: MakeSim, client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_sim()

    def observer(record: CallRecord) -> None:
        raise RuntimeError("metrics sink down")

    page = client_factory(sim.base_url, observer=observer).get_page(NotesQuery(USER), 1)
    assert page.code == 0 and "observer raised" in caplog.text


def test_client_closes_its_session(make_sim: MakeSim) -> None:
    from .helpers import fast_config

    sim = make_sim()
    with NotesDetailClient(fast_config(sim.base_url)) as client:
        client.get_page(NotesQuery(USER), 1)
        session = client._session
    assert not any(adapter.poolmanager.pools for adapter in session.adapters.values())  # type: ignore[attr-defined]


def test_http_429_slows_the_shared_limiter(scripted: Scripted, client_factory: ClientFactory) -> None:
    token = f"{TOKEN}-{uuid.uuid4().hex[:8]}"  # a limiter of its own: no earlier test's cut can count
    scripted.push(429, {"timestamp": "t", "status": 429, "error": "Too Many Requests", "path": "/x"})
    scripted.push(200, envelope(0, [vendor_note()]))
    client = client_factory(scripted.base_url, token=token)
    shared = RateLimiter.shared(limiter_key(scripted.base_url, token), 1.0, 1.0)
    assert client.limiter is shared and shared.rate == shared.ceiling
    assert client.get_page(NotesQuery(USER), 1).attempts == 2
    assert shared.rate < shared.ceiling


def test_slow_downs_never_use_up_max_attempts(scripted: Scripted, client_factory: ClientFactory) -> None:
    for _ in range(12):  # more than the old count limit (10) and far more than max_attempts
        scripted.push(200, envelope(302))
    for _ in range(3):
        scripted.push(429, b"<html>slow down</html>", {"Content-Type": "text/html"})
    scripted.push(200, envelope(0, [vendor_note()]))
    calls = Flip()
    client = client_factory(scripted.base_url, observer=calls, max_attempts=1, slow_down_max_wait_s=5.0)
    page = client.get_page(NotesQuery(USER), 1)
    assert page.attempts == 16 and {r.outcome for r in calls.records[:-1]} == {"slow_down"}


def test_retry_after_is_cut_to_the_remaining_budget(
    scripted: Scripted, client_factory: ClientFactory
) -> None:
    for _ in range(3):
        scripted.push(200, envelope(302), {"Retry-After": "5"})
    client = client_factory(scripted.base_url, backoff_max_s=10.0, slow_down_max_wait_s=0.2)
    started = time.monotonic()
    with pytest.raises(SlowDownError) as info:
        client.get_page(NotesQuery(USER), 1)
    elapsed = time.monotonic() - started
    # One wait of what was left of the budget, one more try, then the page fails as retryable later.
    assert 0.2 <= elapsed < 1.0 and len(scripted.paths) == 2
    assert info.value.code == 302 and TOKEN not in str(info.value)


def test_slow_down_wait_ends_at_once_on_stop_all(scripted: Scripted, client_factory: ClientFactory) -> None:
    for _ in range(3):
        scripted.push(200, envelope(302), {"Retry-After": "5"})
    client = client_factory(scripted.base_url, backoff_max_s=10.0, slow_down_max_wait_s=60.0)
    stopper = threading.Timer(0.1, client._switch.stop, args=(BudgetExhausted("run budget spent"),))
    stopper.start()
    started = time.monotonic()
    with pytest.raises(BudgetExhausted):
        client.get_page(NotesQuery(USER), 1)
    assert time.monotonic() - started < 1.0 and len(scripted.paths) == 1
