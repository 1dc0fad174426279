"""A process-wide, adaptive limiter of calls per second to one API account.

The vendor's rate limit (code 302) is per token, not per thread or per client, so every client of one
(base URL, token) pair in this process shares one limiter through ``RateLimiter.shared``. It spaces calls
evenly (a bucket of one token: no bursts, so the rate holds over any window), halves its rate on a
slow-down signal and creeps back up additively after a quiet period, never above its ceiling.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import ClassVar


def limiter_key(base_url: str, token: str) -> str:
    """The registry key of an account: the base URL and a hash of the token, never the token itself."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]
    return f"{base_url.rstrip('/')}#{digest}"


class RateLimiter:
    """Blocking, thread-safe pacing of calls with additive-increase / multiplicative-decrease.

    - ``acquire()`` blocks until the caller may start one call.
    - ``on_slow_down()`` halves the rate (not below ``min_rate_per_s``); signals within ``cooldown_s`` of
      the last cut are ignored, since calls already in flight when the API pushed back report it too.
    - ``on_success()`` raises the rate by ``recovery_step`` of the ceiling once per ``recovery_interval_s``
      of calls without a slow-down.

    ``clock`` and ``sleep`` are injectable so tests can drive time without waiting.
    """

    _registry: ClassVar[dict[str, RateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        rate_per_s: float,
        min_rate_per_s: float = 1.0,
        *,
        recovery_step: float = 0.05,
        recovery_interval_s: float = 1.0,
        cooldown_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0; got {rate_per_s!r}")
        if not 0 < min_rate_per_s <= rate_per_s:
            raise ValueError(f"min_rate_per_s must be in (0, rate_per_s]; got {min_rate_per_s!r}")
        self.ceiling = float(rate_per_s)
        self.floor = float(min_rate_per_s)
        self._rate = self.ceiling
        self._step = recovery_step * self.ceiling
        self._interval = recovery_interval_s
        self._cooldown = cooldown_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        self._next_slot = now
        self._last_cut = float("-inf")
        self._last_change = now

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

    def acquire(self) -> float:
        """Block until a call may start; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            # Reserve the next free slot; sleeping happens outside the lock so others can queue behind.
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self._rate
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def on_slow_down(self) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last_cut < self._cooldown:
                return
            self._last_cut = now
            self._last_change = now
            old = self._rate
            self._rate = max(self.floor, self._rate / 2)
            # Slots already handed out were spaced for the old rate; space the next one for the new rate.
            self._next_slot = max(self._next_slot, now) + (1.0 / self._rate - 1.0 / old)

    def on_success(self) -> None:
        with self._lock:
            if self._rate >= self.ceiling:
                return
            now = self._clock()
            if now - self._last_change >= self._interval:
                self._rate = min(self.ceiling, self._rate + self._step)
                self._last_change = now
