"""A process-wide, adaptive limiter of calls per second to one API account.

The vendor's rate limit (code 302) is per token, not per thread or per client, so every client of one
(base URL, token) pair in this process shares one limiter through ``RateLimiter.shared``.

It paces AT the token's rate, not below it: a token bucket (GCRA) whose small burst lets a moment when
no thread was ready be made up right after, instead of losing those slots for good; over any window of
T seconds it starts at most ``burst + rate x T`` calls. The burst is a quarter of a second's calls, well
inside the one second of calls a token bucket at the API allows (the simulator's does): the API's own
bucket keeps most of its room for the jitter of the network.

A slow-down (302) halves the rate and empties the bucket. Only a call reserved ``cooldown_s`` or more
after the last cut can cut again: the calls in flight when it came, and those sent while the API's bucket
refills, report the pace being left. The first cut after a quiet spell is taken as a passing jam (delayed
calls sent together, the API's own hiccup): the rate doubles back to where it was after one quiet
interval. A cut that follows another within ``repeat_window_s`` means the rate itself is too high: the
rate then creeps back up additively (AIMD), never above its ceiling.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from typing import ClassVar


def limiter_key(base_url: str, token: str) -> str:
    """The registry key of an account: the base URL and a hash of the token, never the token itself."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]
    return f"{base_url.rstrip('/')}#{digest}"


class RateLimiter:
    """Blocking, thread-safe pacing of calls with a token bucket and additive-increase / multiplicative-decrease.

    - ``acquire()`` blocks until the caller may start one call: at once while the bucket holds a token
      (at most ``burst`` in a row after an idle moment), else at the next slot, ``1 / rate`` apart.
    - ``on_slow_down()`` halves the rate (not below ``min_rate_per_s``) and empties the bucket, unless the
      calling thread's last call was reserved before ``cooldown_s`` after the last cut. The thread that
      draws a slow-down is the one that acquired for that call (as the client does).
    - ``on_success()`` raises the rate once per ``recovery_interval_s`` without a cut: back to the rate
      before an isolated cut (doubling), else by ``recovery_step`` of the ceiling; never above the ceiling.

    ``clock`` and ``sleep`` are injectable so tests can drive time without waiting.
    """

    _registry: ClassVar[dict[str, RateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        rate_per_s: float,
        min_rate_per_s: float = 1.0,
        *,
        burst_s: float = 0.25,
        recovery_step: float = 0.05,
        recovery_interval_s: float = 1.0,
        cooldown_s: float = 1.0,
        repeat_window_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0; got {rate_per_s!r}")
        if not 0 < min_rate_per_s <= rate_per_s:
            raise ValueError(f"min_rate_per_s must be in (0, rate_per_s]; got {min_rate_per_s!r}")
        if not burst_s >= 0:
            raise ValueError(f"burst_s must be >= 0; got {burst_s!r}")
        self.ceiling = float(rate_per_s)
        self.floor = float(min_rate_per_s)
        # Calls that may start at once: a quarter second's worth, at least one.
        self.burst = max(1, math.floor(self.ceiling * burst_s))
        self._rate = self.ceiling
        self._step = recovery_step * self.ceiling
        self._interval = recovery_interval_s
        self._cooldown = cooldown_s
        self._repeat_window = repeat_window_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._local = threading.local()
        now = clock()
        # GCRA: the theoretical time of the next call at the current rate. A slot is free once the clock
        # is within the tolerance, (burst - 1) calls' time, of it. Starts with a full bucket.
        self._tat = now
        self._last_slot = float("-inf")
        self._last_cut = float("-inf")
        self._last_change = now
        # The rate an isolated cut came from: recovery doubles back up to it.
        self._return_to = self.ceiling

    @classmethod
    def shared(cls, key: str, rate_per_s: float, min_rate_per_s: float = 1.0) -> RateLimiter:
        """The one limiter of ``key`` in this process; the first caller's rates win."""
        with cls._registry_lock:
            limiter = cls._registry.get(key)
            if limiter is None:
                limiter = cls._registry[key] = cls(rate_per_s, min_rate_per_s)
            return limiter

    @property
    def rate(self) -> float:
        """The current allowed calls per second."""
        with self._lock:
            return self._rate

    def _tolerance(self, rate: float | None = None) -> float:
        return (self.burst - 1) / (rate or self._rate)

    def _set_rate(self, rate: float) -> None:
        # The next free slot keeps its time: slots already promised stay spaced as they were.
        self._tat += self._tolerance(rate) - self._tolerance()
        self._rate = rate

    def acquire(self) -> float:
        """Block until a call may start; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            # Reserve the slot; sleeping happens outside the lock so others can queue behind.
            slot = self._tat - self._tolerance()
            if slot - now < 1e-9:  # due (float noise in the sum of intervals is no reason to wait)
                slot = now
            # Idle time earns at most a full bucket: the next call's time never lags the clock.
            self._tat = max(self._tat, now) + 1.0 / self._rate
            self._last_slot = max(self._last_slot, slot)
        # When this thread's call was reserved: a slow-down it draws is judged against that.
        self._local.reserved_at = now
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def on_slow_down(self) -> None:
        with self._lock:
            now = self._clock()
            if getattr(self._local, "reserved_at", now) < self._last_cut + self._cooldown:
                return  # reserved before the last cut, or while the API's bucket refills after it
            isolated = now - self._last_cut > self._repeat_window
            old = self._rate
            self._rate = max(self.floor, old / 2)
            self._return_to = old if isolated else self._rate
            self._last_cut = now
            self._last_change = now
            # The API's bucket is empty: no burst now. The next call is one new interval after the last
            # slot promised (those keep the old spacing), and none is earlier than now.
            self._tat = max(self._last_slot, now) + 1.0 / self._rate + self._tolerance()

    def on_success(self) -> None:
        with self._lock:
            if self._rate >= self.ceiling:
                return
            now = self._clock()
            if now - self._last_change < self._interval:
                return
            if self._rate < self._return_to:
                self._set_rate(min(self._return_to, self._rate * 2))
            else:
                self._set_rate(min(self.ceiling, self._rate + self._step))
            self._last_change = now
