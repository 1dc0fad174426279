"""The shared adaptive limiter, on a fake clock, plus one real-thread measurement."""

from __future__ import annotations

import threading
import time

import pytest

from pgy_pipeline.justoneapi import RateLimiter, limiter_key

from .helpers import TOKEN


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make(rate: float = 10.0, floor: float = 1.0, **kwargs: float) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rate, floor, clock=clock, sleep=clock.sleep, **kwargs), clock


def test_calls_are_spaced_at_the_rate() -> None:
    limiter, clock = make(10.0)
    start = clock.now
    for _ in range(11):
        limiter.acquire()
    assert clock.now - start == pytest.approx(1.0)  # 11 calls: first at once, then every 0.1 s


def test_idle_time_does_not_buy_a_burst() -> None:
    limiter, clock = make(10.0)
    limiter.acquire()
    clock.now += 60
    limiter.acquire()
    assert limiter.acquire() == pytest.approx(0.1)


def test_slow_down_halves_not_below_floor_with_cooldown() -> None:
    limiter, clock = make(16.0, 3.0, cooldown_s=0.5)
    limiter.on_slow_down()
    assert limiter.rate == 8.0
    limiter.on_slow_down()  # same burst of 302s from calls already in flight
    assert limiter.rate == 8.0
    for _ in range(5):
        clock.now += 1
        limiter.on_slow_down()
    assert limiter.rate == 3.0


def test_recovery_is_additive_slow_and_capped() -> None:
    limiter, clock = make(20.0, 1.0, recovery_step=0.05, recovery_interval_s=1.0)
    limiter.on_slow_down()
    assert limiter.rate == 10.0
    limiter.on_success()
    assert limiter.rate == 10.0  # no increase right after a cut
    clock.now += 1.0
    limiter.on_success()
    limiter.on_success()
    assert limiter.rate == 11.0  # +5 % of the ceiling, once per interval
    for _ in range(100):
        clock.now += 1.0
        limiter.on_success()
    assert limiter.rate == 20.0


def test_a_cut_pushes_the_next_slot_out() -> None:
    limiter, _ = make(10.0, 1.0)
    limiter.acquire()
    limiter.on_slow_down()
    assert limiter.acquire() == pytest.approx(0.2)


def test_shared_returns_one_instance_per_key_and_key_hides_token() -> None:
    key = limiter_key("http://127.0.0.1:1/", TOKEN)
    assert TOKEN not in key and key.startswith("http://127.0.0.1:1#")
    assert key != limiter_key("http://127.0.0.1:1", "other-token")
    first = RateLimiter.shared(key, 5.0, 1.0)
    assert RateLimiter.shared(key, 50.0, 1.0) is first
    assert first.ceiling == 5.0


@pytest.mark.parametrize(("rate", "floor"), [(0, 1), (10, 0), (10, 20)])
def test_bad_rates_are_refused(rate: float, floor: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, floor)


def test_real_threads_stay_under_the_ceiling() -> None:
    limiter = RateLimiter(40.0, 1.0)
    stamps: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 0.5

    def worker() -> None:
        while time.monotonic() < deadline:
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    span = stamps[-1] - stamps[0]
    assert len(stamps) >= 15
    assert (len(stamps) - 1) / span <= 40.0 * 1.1
    # No burst either: any 0.25 s window holds at most its share of calls (+1 for the edges).
    for i, start in enumerate(stamps):
        in_window = sum(1 for t in stamps[i:] if t < start + 0.25)
        assert in_window <= 40.0 * 0.25 + 3  # slack for threads waking late, far below a burst
