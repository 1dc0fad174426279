"""One page over real HTTP against the simulator: every business code of the table and odd envelopes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pgy_pipeline.justoneapi import (
    InsufficientBalance,
    InvalidParameters,
    InvalidToken,
    MalformedResponse,
    NotesDetailClient,
    NotesQuery,
    PermissionDenied,
    QuotaExceeded,
    RetryableError,
    SlowDownError,
    UnknownCode,
)
from pgy_pipeline_tests.support import MakeSim

from .helpers import TOKEN, Flip, Scripted, envelope, vendor_note

ClientFactory = Callable[..., NotesDetailClient]
USER = "kol_a"


def test_code_0_returns_a_page(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(fixed_counts={USER: 11})
    calls = Flip()
    client = client_factory(sim.base_url, observer=calls)
    page = client.get_page(NotesQuery(USER), 1)
    expected = sim.expected_notes(USER)
    assert [n.note_id for n in page.notes] == [n["noteId"] for n in expected[:8]]
    assert page.total == 11 and page.code == 0 and page.http_status == 200 and page.attempts == 1
    assert page.query_params == NotesQuery(USER).to_params(1) and "token" not in page.query_params
    assert page.raw_body.startswith('{"code":0') and page.request_id
    assert page.fetched_at.tzinfo is not None and page.latency_s > 0
    (record,) = calls.records
    assert (record.outcome, record.code, record.http_status, record.attempt, record.error) == (
        "ok",
        0,
        200,
        1,
        None,
    )


def test_100_stops_the_client_without_further_calls(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(revoked_tokens=frozenset({TOKEN}))
    client = client_factory(sim.base_url)
    with pytest.raises(InvalidToken) as info:
        client.get_page(NotesQuery(USER), 1)
    assert info.value.code == 100 and "JUSTONEAPI_TOKEN" in str(info.value)
    assert isinstance(client.stopped, InvalidToken)
    with pytest.raises(InvalidToken):
        client.get_page(NotesQuery("other"), 1)
    assert sim.counters().calls_total == 1


def test_301_is_retried_then_succeeds(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(p_301=1.0)
    calls = Flip(lambda: sim.update(p_301=0.0), after=2)
    page = client_factory(sim.base_url, observer=calls).get_page(NotesQuery(USER), 1)
    assert page.attempts == 3
    assert [r.outcome for r in calls.records] == ["retry", "retry", "ok"]
    assert [r.attempt for r in calls.records] == [1, 2, 3]
    assert sim.counters().by_code == {301: 2, 0: 1}


def test_301_exhausted_is_retryable(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(p_301=1.0)
    client = client_factory(sim.base_url, max_attempts=3)
    with pytest.raises(RetryableError) as info:
        client.get_page(NotesQuery(USER), 2)
    assert (info.value.code, info.value.page_number, info.value.user_id) == (301, 2, USER)
    assert "after 3 attempts" in str(info.value)
    assert sim.counters().calls_total == 3 and client.stopped is None


def test_500_is_retried_a_few_times(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(p_500=1.0)
    with pytest.raises(RetryableError) as info:
        client_factory(sim.base_url, max_attempts=2).get_page(NotesQuery(USER), 1)
    assert info.value.code == 500 and sim.counters().by_code == {500: 2}


def test_302_slows_down_then_succeeds(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(user_codes={USER: 302})
    calls = Flip(lambda: sim.update(user_codes={}), after=2)
    client = client_factory(sim.base_url, observer=calls, max_attempts=1)
    page = client.get_page(NotesQuery(USER), 1)
    assert page.attempts == 3  # slow-downs do not use up max_attempts
    assert [r.outcome for r in calls.records] == ["slow_down", "slow_down", "ok"]
    assert client.limiter.rate < client.limiter.ceiling


def test_302_beyond_the_time_budget_is_slow_down_error(
    make_sim: MakeSim, client_factory: ClientFactory
) -> None:
    sim = make_sim(user_codes={USER: 302})
    client = client_factory(sim.base_url, slow_down_max_wait_s=0.1, max_attempts=1)
    started = time.monotonic()
    with pytest.raises(SlowDownError) as info:
        client.get_page(NotesQuery(USER), 1)
    elapsed = time.monotonic() - started
    assert info.value.code == 302 and "still rate limited after" in str(info.value)
    # Bounded by time, not by a count: many answers were waited out, well past max_attempts.
    assert 0.1 <= elapsed < 0.6
    assert sim.counters().calls_total > 2 and client.stopped is None


def test_rate_limit_302_honours_retry_after_and_adapts(
    make_sim: MakeSim, client_factory: ClientFactory
) -> None:
    sim = make_sim(rate_limit_per_s=10.0, rate_burst=1.0)
    client = client_factory(
        sim.base_url,
        rate_limit_per_s=400.0,
        rate_limit_min_per_s=5.0,
        backoff_max_s=0.05,
        slow_down_max_wait_s=5.0,
    )
    pages = [client.get_page(NotesQuery(USER), n) for n in (1, 2, 3, 4)]
    assert all(p.code == 0 for p in pages)
    counters = sim.counters()
    assert counters.by_code.get(302, 0) >= 1 and counters.by_code[0] == 4
    assert client.limiter.rate <= 200.0


def test_303_stops_everything(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(daily_quota=1)
    client = client_factory(sim.base_url)
    client.get_page(NotesQuery(USER), 1)
    with pytest.raises(QuotaExceeded) as info:
        client.get_page(NotesQuery(USER), 2)
    assert "resumes after the quota resets" in str(info.value)
    with pytest.raises(QuotaExceeded):
        client.get_page(NotesQuery("someone_else"), 1)
    assert sim.counters().calls_total == 2


def test_400_envelope_names_the_parameter(scripted: Scripted, client_factory: ClientFactory) -> None:
    scripted.push(200, {"code": 400, "message": "Invalid Parameters: noteType must be one of ALL, VIDEO"})
    with pytest.raises(InvalidParameters) as info:
        client_factory(scripted.base_url).get_page(NotesQuery(USER), 1)
    assert "noteType" in str(info.value) and info.value.code == 400
    assert len(scripted.paths) == 1


def test_400_envelope_from_the_simulator(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(user_codes={USER: 400})
    with pytest.raises(InvalidParameters):
        client_factory(sim.base_url).get_page(NotesQuery(USER), 1)
    assert sim.counters().calls_total == 1


def test_http_400_framework_body(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim()
    query = NotesQuery(USER)
    object.__setattr__(query, "user_id", "bad id!")  # slip past validation to reach the server's check
    with pytest.raises(InvalidParameters) as info:
        client_factory(sim.base_url).get_page(query, 1)
    assert info.value.http_status == 400 and info.value.code is None
    assert "Bad Request" in str(info.value) and "/api/" not in str(info.value)
    assert sim.counters().by_http_status == {400: 1}


def test_600_rejects_only_that_user(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(forbidden_users=frozenset({USER}))
    client = client_factory(sim.base_url)
    with pytest.raises(PermissionDenied) as info:
        client.get_page(NotesQuery(USER), 1)
    assert info.value.code == 600 and client.stopped is None
    assert client.get_page(NotesQuery("allowed"), 1).code == 0
    assert sim.counters().calls_total == 2


def test_601_stops_the_client(make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(balance=0)
    client = client_factory(sim.base_url)
    with pytest.raises(InsufficientBalance) as info:
        client.get_page(NotesQuery(USER), 1)
    assert "top up the balance" in str(info.value)
    assert isinstance(client.stopped, InsufficientBalance)


@pytest.mark.parametrize("code", [503, 999, 101])
def test_unknown_codes_fail_closed(code: int, make_sim: MakeSim, client_factory: ClientFactory) -> None:
    sim = make_sim(user_codes={USER: code})
    client = client_factory(sim.base_url)
    with pytest.raises(UnknownCode) as info:
        client.get_page(NotesQuery(USER), 1)
    assert info.value.code == code and client.stopped is None
    assert sim.counters().calls_total == 1


def test_string_zero_code_is_rejected(scripted: Scripted, client_factory: ClientFactory) -> None:
    scripted.push(200, {"code": "0", "message": "success", "data": {"list": [vendor_note()], "total": 1}})
    with pytest.raises(MalformedResponse):
        client_factory(scripted.base_url).get_page(NotesQuery(USER), 1)
    assert len(scripted.paths) == 1


def test_note_without_id_is_malformed(scripted: Scripted, client_factory: ClientFactory) -> None:
    scripted.push(200, envelope(0, [vendor_note(), {"title": "x"}]))
    with pytest.raises(MalformedResponse, match="noteId"):
        client_factory(scripted.base_url).get_page(NotesQuery(USER), 1)
