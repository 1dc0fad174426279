"""What a client runs around each HTTP attempt: the budget governor before it, the bookkeeping after.

- ``before_call()`` runs before every attempt (a budget governor); if it raises StopAllCalls (e.g.
  BudgetExhausted) no request is made and the client stops (stop_switch.py).
- ``after_call(record)`` runs after every attempt ``before_call`` let through, so the governor can
  settle what it reserved.
- ``observer(record)`` receives a CallRecord for every attempt, from whichever thread made it.
An exception in ``after_call`` or ``observer`` is logged and ignored: bookkeeping must not fail a
paid call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .models import CallRecord, CallTally

logger = logging.getLogger("pgy_pipeline.justoneapi")


@dataclass(frozen=True)
class CallHooks:
    observer: Callable[[CallRecord], None] | None = None
    before_call: Callable[[], None] | None = None
    after_call: Callable[[CallRecord], None] | None = None

    def called(self, record: CallRecord, tally: CallTally | None) -> None:
        """One attempt was made: settle it, count it in ``tally`` (one fetch's), log it, observe it."""
        if self.after_call is not None:
            try:
                self.after_call(record)
            except Exception:
                logger.warning("after_call raised; the call itself is unaffected", exc_info=True)
        if tally is not None:
            tally.add(record)
        logger.debug(
            "notesDetail user=%s page=%d attempt=%d -> %s (HTTP %s, code %s) in %.3fs",
            record.user_id,
            record.page_number,
            record.attempt,
            record.outcome,
            record.http_status,
            record.code,
            record.latency_s,
        )
        if self.observer is not None:
            try:
                self.observer(record)
            except Exception:
                logger.warning("call observer raised; the call itself is unaffected", exc_info=True)
