"""The daily budget reserved in blocks: one state transaction per block of calls, not per call.

Reserving one call per transaction cost every page a write transaction on the one state lock
(0.9 ms CPU and most of the 32 fetch threads' lock wait: bench/RESULTS.md, "Profile of
`pgy refresh`"). A process instead reserves a block of calls in one transaction, hands them out to
its threads from memory, and gives the rest back when its client closes (``release``). Guarantees
kept:

- The billed budget is never exceeded: a block is counted in ``spend`` before any of its calls is
  made, in the same serialised transaction as before (SQLite ``BEGIN IMMEDIATE``, the PostgreSQL
  advisory lock), so processes that share no disk still cannot reserve past the budget.
- Blocks shrink near the limit: at most 1/``HEADROOM_SHARE`` (state.py) of what is left, never below one call.
  So calls held unused by one process starve another of at most that share, and a process that dies
  without ``release`` leaves at most one such block counted, until the China day ends, as a crashed
  call's reservation always was (the day's ledger resets; nothing is counted for ever).
- Unbilled answers give their reservation back one by one (``PipelineState.settle_unbilled``);
  the unbilled count it returns stops this process's calls at ``PGY_DAILY_UNBILLED_CALL_LIMIT`` at
  once; another process's unbilled answers are seen at the next block.
- A block never crosses the China midnight: a call of a new day takes a block of that day.
"""

from __future__ import annotations

import threading
from datetime import datetime

from pgy_pipeline.warehouse.state import PipelineState, quota_day

# Calls per block when far from the limits: one state transaction per 32 calls.
BLOCK_CALLS = 32


class BudgetBlocks:
    """One process's share of today's budget, taken from ``state`` a block at a time (thread-safe)."""

    def __init__(
        self,
        state: PipelineState,
        budget: int | None,
        unbilled_limit: int | None,
        block: int = BLOCK_CALLS,
    ) -> None:
        self.state, self.budget, self.unbilled_limit, self.block = state, budget, unbilled_limit, block
        self._lock = threading.Lock()
        self._day: str | None = None
        self._left = 0  # calls reserved in the state and not yet handed out
        self._unbilled = 0  # today's unbilled calls, as last read from the state

    def take(self, now: datetime) -> str | None:
        """One call of today's budget: None when granted, else what refuses it ("budget", "unbilled")."""
        day = quota_day(now).isoformat()
        with self._lock:
            if self._day != day:
                self._give_back()
                self._day, self._unbilled = day, 0
            if self.unbilled_limit is not None and self._unbilled >= self.unbilled_limit:
                return "unbilled"
            if self._left == 0:
                granted, refused, self._unbilled = self.state.reserve_block(
                    self.budget, self.unbilled_limit, self.block, now
                )
                if refused is not None:
                    return refused
                self._left = granted
            self._left -= 1
            return None

    def settle_unbilled(self, now: datetime) -> None:
        """A call answered without being billed: its reservation goes back to the state at once."""
        unbilled = self.state.settle_unbilled(now)
        with self._lock:
            if self._day == quota_day(now).isoformat():
                self._unbilled = max(self._unbilled, unbilled)

    def release(self) -> None:
        """Give back the calls reserved and not made (when the client closes)."""
        with self._lock:
            self._give_back()

    def _give_back(self) -> None:
        if self._left and self._day is not None:
            self.state.give_back(self._left, self._day)
        self._left = 0
