"""The retry rules of one page (retry_rules.py), one rule a test, with no server and no sleep."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pgy_pipeline.justoneapi import ApiError, ClientConfig, NoContent, RequestRejected, RetryableError
from pgy_pipeline.justoneapi.envelope import Reading
from pgy_pipeline.justoneapi.errors import SlowDownError
from pgy_pipeline.justoneapi.retry_rules import PageRetries
from pgy_pipeline_tests.support import TEST_TOKEN


def _config(**overrides: Any) -> ClientConfig:
    base: dict[str, Any] = {
        "max_attempts": 3,
        "backoff_base_s": 1.0,
        "backoff_max_s": 8.0,
        "slow_down_max_wait_s": 60.0,
    }
    return ClientConfig(token=TEST_TOKEN, base_url="http://127.0.0.1:9", **{**base, **overrides})


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _failure() -> tuple[Reading, ApiError]:
    error = RetryableError("code 301", code=301)
    return Reading("retry", 200, "", code=301, error=error), error


def _slow_down(retry_after_s: float | None = None) -> tuple[Reading, ApiError]:
    error = SlowDownError("code 302", code=302)
    return Reading("slow_down", 200, "", code=302, error=error, retry_after_s=retry_after_s), error


def _tries(config: ClientConfig, clock: _Clock | None = None) -> PageRetries:
    return PageRetries(config, random.Random(7), clock or _Clock())


def test_a_failure_is_retried_until_max_attempts_then_raised_with_the_count() -> None:
    retries = _tries(_config(max_attempts=3))
    for _ in range(2):
        retries.next_attempt()
        assert retries.after(*_failure()) >= 0
    retries.next_attempt()
    with pytest.raises(RetryableError, match=r"gave up after 3 attempts"):
        retries.after(*_failure())


@pytest.mark.parametrize("error", [RequestRejected("bad", code=600), NoContent("none", code=201)])
def test_a_rejected_or_empty_answer_is_never_retried(error: ApiError) -> None:
    outcome = "rejected" if isinstance(error, RequestRejected) else "no_content"
    with pytest.raises(type(error)):
        _tries(_config()).after(Reading(outcome, 200, "", code=error.code, error=error), error)  # type: ignore[arg-type]


def test_backoff_is_full_jitter_under_a_cap_that_doubles_up_to_backoff_max() -> None:
    retries = _tries(_config(backoff_base_s=1.0, backoff_max_s=8.0))
    for failures, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0), (2000, 8.0)]:
        delays = [retries.backoff(failures) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= cap
        assert max(delays) > cap / 2  # spread over the whole range, not pinned at 0


def test_slow_downs_never_use_up_max_attempts() -> None:
    retries = _tries(_config(max_attempts=2))
    for _ in range(20):
        retries.next_attempt()
        assert retries.after(*_slow_down()) >= 0
    retries.next_attempt()
    assert retries.after(*_failure()) >= 0  # the page's first failure: tried again
    retries.next_attempt()
    with pytest.raises(RetryableError, match=r"gave up after 22 attempts"):
        retries.after(*_failure())


def test_a_slow_down_follows_retry_after_within_backoff_max() -> None:
    retries = _tries(_config(backoff_max_s=8.0))
    assert retries.after(*_slow_down(retry_after_s=3.0)) == 3.0
    assert retries.after(*_slow_down(retry_after_s=30.0)) == 8.0


def test_slow_downs_are_waited_out_by_time_then_raised_saying_how_long() -> None:
    clock = _Clock()
    retries = _tries(_config(slow_down_max_wait_s=60.0, backoff_max_s=8.0), clock)
    assert retries.after(*_slow_down(retry_after_s=5.0)) == 5.0
    clock.now += 58.0
    assert retries.after(*_slow_down(retry_after_s=5.0)) == pytest.approx(2.0)  # what is left of the 60 s
    clock.now += 2.0
    with pytest.raises(SlowDownError, match=r"still rate limited after 60.0s and 3 slow-downs"):
        retries.after(*_slow_down(retry_after_s=5.0))
