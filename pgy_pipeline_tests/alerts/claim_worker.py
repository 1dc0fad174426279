"""A child process's part in the cross-process dedup test (a module of its own, cheap to import)."""

from __future__ import annotations

import multiprocessing

from pgy_pipeline.alerts.dedup import DedupStore


def claim(path: str, start: multiprocessing.synchronize.Event, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    start.wait(30)  # all children claim at the same moment
    queue.put(DedupStore(path).claim(["run_failed:r1"]))
