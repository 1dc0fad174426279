"""The stop-all switch of one client: once any call meets a run-wide stop, no later call is made.

A stop (``StopAllCalls``: token, quota, balance, budget, unbilled limit, drift, interrupt) is set once.
Every later attempt raises a copy of it at once, without touching the network, and the retries
sleeping in ``wait`` wake up. Answers that drift for ``DRIFT_STOP_KOLS`` KOLs stop the client too: the
vendor changed its answers for everyone, and every further page would be money spent on a shape the
code cannot read yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .drift import DRIFT_STOP_KOLS, Drift
from .errors import ApiError, SchemaDriftStop, StopAllCalls

logger = logging.getLogger("pgy_pipeline.justoneapi")


class StopSwitch:
    """Shared by every thread of one client; ``stop`` is safe in a signal handler when ``quiet``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # an interrupt may come in a signal handler
        self._stopped: StopAllCalls | None = None
        self._event = threading.Event()
        self._drifted_kols: set[str] = set()

    @property
    def stopped(self) -> StopAllCalls | None:
        """The StopAllCalls that halted the client, or None while calls may still be made."""
        return self._stopped

    def stop(self, error: StopAllCalls, *, quiet: bool = False) -> None:
        """The first stop wins; ``quiet`` logs nothing (a signal handler must not log)."""
        with self._lock:
            if self._stopped is not None:
                return
            self._stopped = error
        self._event.set()
        if not quiet:
            # INFO: the caller reports the stop (the run's failure, `pgy refresh`, the alert).
            logger.info("stopping all calls: %s", error)

    def error_for(self, user_id: str, page_number: int) -> ApiError | None:
        """The stop, as this page's error, or None while calls may be made."""
        stopped = self._stopped
        return None if stopped is None else stopped.copy(user_id=user_id, page_number=page_number)

    def gate(self, user_id: str, page_number: int, before_call: Callable[[], None] | None) -> ApiError | None:
        """The error that forbids the next attempt (stopped, or ``before_call`` said no), or None.

        A StopAllCalls raised by ``before_call`` (a budget governor) stops the client.
        """
        error = self.error_for(user_id, page_number)
        if error is None and before_call is not None:
            try:
                before_call()
            except StopAllCalls as exc:
                error = exc.copy(user_id=user_id, page_number=page_number)
        if isinstance(error, StopAllCalls):
            self.stop(error)
        return error

    def drifted(self, user_id: str, drift: Drift) -> None:
        """One more KOL whose answers changed shape; the client stops at ``DRIFT_STOP_KOLS``."""
        with self._lock:
            self._drifted_kols.add(user_id)
            kols = len(self._drifted_kols)
        if kols >= DRIFT_STOP_KOLS:
            self.stop(SchemaDriftStop(f"{kols} KOLs' answers changed shape: {drift.detail}", drift=drift))

    def wait(self, seconds: float) -> bool:
        """Sleep before a retry; a stop from another thread ends the wait at once (then True)."""
        return self._event.wait(seconds)
