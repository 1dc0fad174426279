"""When a page is tried again, and after how long: the rules, with no I/O (client.py makes the calls).

- A failure (timeout, connection, 5xx, code 301...) is retried with full-jitter exponential backoff,
  at most ``max_attempts`` attempts in all.
- A slow-down (HTTP 429, code 302) says nothing about this KOL, only about our pace: it is waited out
  by time, however many answers that takes (``slow_down_max_wait_s``), and never uses up
  ``max_attempts``. The server's ``Retry-After`` is followed when it gives one.
- An answer that is rejected or says the KOL has no content is not retried.
Run-wide stops never reach these rules: the client stops on them first (stop_switch.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from .config import ClientConfig
from .envelope import Reading
from .errors import ApiError


class PageRetries:
    """The retries of one page: ``after`` says how long to wait, or raises when there is no next try."""

    def __init__(
        self, config: ClientConfig, rng: random.Random, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._rng = rng
        self._monotonic = monotonic
        self.attempts = self.failures = self.slow_downs = 0
        self._slowed_since: float | None = None

    def next_attempt(self) -> int:
        """Count one more attempt at this page; its number (1 for the first)."""
        self.attempts += 1
        return self.attempts

    def after(self, reading: Reading, error: ApiError) -> float:
        """Seconds to wait before the next attempt at this page; raises ``error`` when there is none."""
        config = self.config
        if reading.outcome in ("rejected", "no_content"):
            raise error
        if reading.outcome == "slow_down":
            self.slow_downs += 1
            now = self._monotonic()
            self._slowed_since = now if self._slowed_since is None else self._slowed_since
            remaining = config.slow_down_max_wait_s - (now - self._slowed_since)
            if remaining <= 0:
                waited = f"{now - self._slowed_since:.1f}s and {self.slow_downs} slow-downs"
                raise error.copy(message=f"{error.message} (still rate limited after {waited})")
            hinted = reading.retry_after_s
            delay = self.backoff(self.slow_downs) if hinted is None else hinted
            return min(delay, config.backoff_max_s, remaining)
        self.failures += 1
        if self.failures >= config.max_attempts:
            tries = f"{self.attempts} attempt{'s' if self.attempts > 1 else ''}"
            raise error.copy(message=f"{error.message} (gave up after {tries})")
        return self.backoff(self.failures)  # at most backoff_max_s

    def backoff(self, failures: int) -> float:
        """Full jitter: spreads the retries of many threads apart."""
        # The exponent is bounded: a long slow-down can count hundreds of answers, and 2.0**1100 overflows.
        config = self.config
        cap = min(config.backoff_max_s, config.backoff_base_s * 2.0 ** min(failures - 1, 60))
        return self._rng.uniform(0, cap)
