"""The shared adaptive limiter: its pacing rules on a fake clock, plus one real-thread measurement."""

from __future__ import annotations

import itertools
import queue
import random
import threading
import time
import types
from collections.abc import Callable

import pytest

from pgy_pipeline.justoneapi import RateLimiter, limiter_key
from pgy_pipeline.simulator import endpoint as sim_endpoint
from pgy_pipeline.simulator.profiles import PROFILES

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


def make(rate: float = 20.0, floor: float = 1.0, **kwargs: float) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rate, floor, clock=clock, sleep=clock.sleep, **kwargs), clock


def starts(limiter: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    """When each of ``n`` calls queued back to back may start."""
    out = []
    for _ in range(n):
        limiter.acquire()
        out.append(clock.now)
    return out


def test_the_burst_is_a_quarter_second_of_calls_and_at_least_one() -> None:
    assert make(20.0)[0].burst == 5
    assert make(100.0)[0].burst == 25
    assert make(3.0)[0].burst == 1
    assert make(20.0, burst_s=0)[0].burst == 1


def test_a_busy_queue_goes_at_the_rate_not_below_it() -> None:
    limiter, clock = make(20.0)
    stamps = starts(limiter, clock, 205)
    # The first five at once (a full bucket), then one every 1/20 s: 200 intervals in 10 s.
    assert stamps[4] == stamps[0]
    assert stamps[-1] - stamps[0] == pytest.approx(200 / 20.0)
    assert all(b - a == pytest.approx(0.05) for a, b in itertools.pairwise(stamps[4:]))


def test_a_moment_no_caller_was_ready_is_made_up_at_once() -> None:
    limiter, clock = make(20.0)
    starts(limiter, clock, 50)  # the bucket is empty: one call per 0.05 s
    clock.now += 0.15  # two slots pass with no caller ready, and a third is due
    late = starts(limiter, clock, 4)
    assert late[0] == late[1] == late[2]  # the two made up at once, with the one due
    assert late[3] - late[2] == pytest.approx(0.05)


def test_idle_time_buys_no_more_than_the_burst() -> None:
    limiter, clock = make(20.0)
    starts(limiter, clock, 10)
    clock.now += 60
    stamps = starts(limiter, clock, 7)
    assert stamps[:5] == [stamps[0]] * 5
    assert stamps[5] - stamps[0] == pytest.approx(0.05) and stamps[6] - stamps[0] == pytest.approx(0.10)


def test_any_window_holds_at_most_the_burst_plus_the_rate() -> None:
    limiter, clock = make(20.0)
    rng = random.Random(7)
    stamps = []
    for _ in range(3000):
        clock.now += rng.choice([0.0, 0.0, 0.01, 0.05, 0.2, 1.0])  # callers arrive unevenly
        limiter.acquire()
        stamps.append(clock.now)
    for i, start in enumerate(stamps):
        for window in (0.05, 0.25, 1.0, 5.0):
            count = sum(1 for t in stamps[i : i + 200] if t < start + window - 1e-9)
            assert count <= limiter.burst + 20.0 * window


def test_at_the_tokens_rate_the_simulators_bucket_never_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator's own token bucket (20/s, a second of burst) sees our calls after a latency
    # jittered as in its realistic profile; callers arrive unevenly, with idle gaps.
    arrival = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(sim_endpoint, "time", types.SimpleNamespace(monotonic=lambda: arrival.now))
    server = sim_endpoint.Endpoint(PROFILES["realistic"], seed=0, stopping=threading.Event())
    profile = PROFILES["realistic"]
    limiter, clock = make(20.0)
    rng = random.Random(11)
    arrivals = []
    for _ in range(4000):
        clock.now += rng.choice([0.0, 0.0, 0.0, 0.02, 0.3, 2.0])
        limiter.acquire()
        jitter = profile.latency_jitter * (2 * rng.random() - 1)
        arrivals.append(clock.now + profile.latency_s * (1 + jitter))
    refused = 0
    for t in sorted(arrivals):
        arrival.now = t
        refused += server._take_rate_token(profile, TOKEN) is not None
    assert refused == 0


def test_a_slow_down_halves_the_rate_and_empties_the_bucket() -> None:
    limiter, clock = make(20.0)
    limiter.acquire()
    clock.now += 10  # a full bucket
    limiter.on_slow_down()
    assert limiter.rate == 10.0
    assert limiter.acquire() == pytest.approx(0.1)  # no burst: the API's bucket is empty
    assert limiter.acquire() == pytest.approx(0.1)


def test_slots_promised_before_a_cut_keep_their_time_and_the_next_follows_at_the_new_rate() -> None:
    clock = FakeClock()
    # Callers that reserved their slots and are still waiting for them: the clock does not move.
    limiter = RateLimiter(20.0, 1.0, burst_s=0, clock=clock, sleep=lambda _: None)
    assert [limiter.acquire() for _ in range(3)] == pytest.approx([0.0, 0.05, 0.10])
    limiter.on_slow_down()
    assert limiter.acquire() == pytest.approx(0.10 + 1 / 10.0)


class Caller:
    """One client thread: its calls and the slow-downs they draw happen in it, as in the client."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.jobs: queue.Queue[Callable[[], object] | None] = queue.Queue()
        self.done: queue.Queue[object] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            self.done.put(job())

    def do(self, job: Callable[[], object]) -> object:
        self.jobs.put(job)
        return self.done.get(timeout=10)

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()


def test_only_a_call_reserved_after_the_cooldown_can_cut_again() -> None:
    limiter, clock = make(16.0, 3.0, cooldown_s=1.0)
    a, b = Caller(limiter), Caller(limiter)
    a.do(limiter.acquire)
    b.do(limiter.acquire)  # two calls in flight; both come back 302
    clock.now += 0.3
    a.do(limiter.on_slow_down)
    b.do(limiter.on_slow_down)
    assert limiter.rate == 8.0  # one cut: b's call was in flight when it was made
    b.do(limiter.acquire)  # sent while the API's bucket refills: its 302 says nothing new
    b.do(limiter.on_slow_down)
    assert limiter.rate == 8.0
    clock.now += 1.0
    b.do(limiter.acquire)  # well after the cut, and refused again: the pace is still too high
    b.do(limiter.on_slow_down)
    assert limiter.rate == 4.0
    for _ in range(5):
        clock.now += 1.0
        a.do(limiter.acquire)
        a.do(limiter.on_slow_down)
    assert limiter.rate == 3.0  # never below the floor
    a.close()
    b.close()


def test_after_an_isolated_cut_the_rate_doubles_back_after_one_quiet_interval() -> None:
    limiter, clock = make(20.0, recovery_interval_s=1.0)
    limiter.acquire()
    limiter.on_slow_down()
    limiter.on_success()
    assert limiter.rate == 10.0  # not right after the cut
    clock.now += 1.0
    limiter.on_success()
    limiter.on_success()
    assert limiter.rate == 20.0  # back where it was, once


def test_a_cut_soon_after_another_means_the_rate_is_too_high_and_it_creeps_back() -> None:
    limiter, clock = make(20.0, recovery_step=0.05, recovery_interval_s=1.0, repeat_window_s=30.0)
    limiter.acquire()
    limiter.on_slow_down()
    clock.now += 1.0
    limiter.on_success()
    assert limiter.rate == 20.0
    clock.now += 5.0
    limiter.acquire()
    limiter.on_slow_down()  # a second jam within the window
    assert limiter.rate == 10.0
    for expected in (11.0, 12.0, 13.0):
        clock.now += 1.0
        limiter.on_success()
        assert limiter.rate == expected  # +5 % of the ceiling per quiet interval
    for _ in range(100):
        clock.now += 1.0
        limiter.on_success()
    assert limiter.rate == 20.0  # never above the ceiling


def test_a_cut_long_after_the_last_is_isolated_again() -> None:
    limiter, clock = make(20.0, repeat_window_s=30.0)
    limiter.acquire()
    limiter.on_slow_down()
    clock.now += 31.0
    limiter.on_success()
    assert limiter.rate == 20.0
    limiter.acquire()
    limiter.on_slow_down()
    clock.now += 1.0
    limiter.on_success()
    assert limiter.rate == 20.0


def test_shared_returns_one_instance_per_key_and_key_hides_token() -> None:
    key = limiter_key("http://127.0.0.1:1/", TOKEN)
    assert TOKEN not in key and key.startswith("http://127.0.0.1:1#")
    assert key != limiter_key("http://127.0.0.1:1", "other-token")
    first = RateLimiter.shared(key, 5.0, 1.0)
    assert RateLimiter.shared(key, 50.0, 1.0) is first
    assert first.ceiling == 5.0


@pytest.mark.parametrize(
    ("rate", "floor", "burst_s"), [(0, 1, 0.25), (10, 0, 0.25), (10, 20, 0.25), (10, 1, -1)]
)
def test_bad_settings_are_refused(rate: float, floor: float, burst_s: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, floor, burst_s=burst_s)


def test_real_threads_stay_within_the_bucket() -> None:
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
    assert len(stamps) >= 15
    # Any 0.25 s window holds at most the burst plus its share of calls (+3 for threads waking late).
    for i, start in enumerate(stamps):
        in_window = sum(1 for t in stamps[i:] if t < start + 0.25)
        assert in_window <= limiter.burst + 40.0 * 0.25 + 3
