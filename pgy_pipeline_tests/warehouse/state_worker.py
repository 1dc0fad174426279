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


def claim(
    data_dir: str, url: str, start: multiprocessing.synchronize.Event, queue: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    store = DedupStore(data_dir, url=url)
    start.wait(30)
    queue.put(store.claim(["run_failed:r1"]))
