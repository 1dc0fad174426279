"""A child process's part in the cross-process state tests (a module of its own, cheap to import)."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime

from pgy_pipeline.alerts.dedup import DedupStore
from pgy_pipeline.warehouse.state import PipelineState

DAY = datetime(2026, 3, 8, 4, tzinfo=UTC)


def spend(
    data_dir: str,
    url: str,
    budget: int,
    tries: int,
    start: multiprocessing.synchronize.Event,
    queue: multiprocessing.Queue,
) -> None:  # type: ignore[type-arg]
    """As one host's run worker: its own data dir, the shared state database."""
    state = PipelineState(data_dir, url=url)
    start.wait(30)
    queue.put(sum(state.try_spend(budget, DAY) for _ in range(tries)))


def reserve_and_settle(
    data_dir: str,
    url: str,
    budget: int,
    tries: int,
    start: multiprocessing.synchronize.Event,
    queue: multiprocessing.Queue,
) -> None:  # type: ignore[type-arg]
    """As a run worker's budget guard: reserve before each call, give every third one back (an
    unbilled answer, e.g. 301); puts (billed, given back)."""
    state = PipelineState(data_dir, url=url)
    start.wait(30)
    billed = given_back = 0
    for i in range(tries):
        if state.reserve(budget, None, DAY) is not None:
            continue
        if i % 3 == 0:
            state.settle_unbilled(DAY)
            given_back += 1
        else:
            billed += 1
    queue.put((billed, given_back))


def claim(
    data_dir: str, url: str, start: multiprocessing.synchronize.Event, queue: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    store = DedupStore(data_dir, url=url)
    start.wait(30)
    queue.put(store.claim(["run_failed:r1"]))


def take_in_blocks(
    data_dir: str,
    url: str,
    budget: int,
    tries: int,
    start: multiprocessing.synchronize.Event,
    queue: multiprocessing.Queue,
) -> None:  # type: ignore[type-arg]
    """As a run's budget guard with block reservations: every third call answers unbilled; the
    unused rest of the block goes back at the end; puts (billed, given back)."""
    from pgy_pipeline.warehouse.state_budget import BudgetBlocks

    blocks = BudgetBlocks(PipelineState(data_dir, url=url or None), budget, None, block=8)
    start.wait(30)
    billed = given_back = 0
    for i in range(tries):
        if blocks.take(DAY) is not None:
            continue
        if i % 3 == 0:
            blocks.settle_unbilled(DAY)
            given_back += 1
        else:
            billed += 1
    blocks.release()
    queue.put((billed, given_back))
