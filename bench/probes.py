"""Explicit timers around named functions, honest with threads: wall and CPU time, exclusive of nested probes.

cProfile sees only the thread it was enabled in, and a sampler cannot say which seconds went to
an fsync and which to a DuckDB commit. So bench/profile_refresh.py wraps the functions that do
each kind of work (HTTP, parsing, raw appends, fsyncs, DuckDB writes, Dagster events, ...) and
this module adds up, per label and per kind of thread (the step's own thread or a worker):

- calls;
- wall seconds, exclusive of probes nested inside (so a raw append's fsync is counted once, under
  the fsync label; a wrapper's children never double-count);
- CPU seconds of the calling thread (``time.thread_time``), exclusive the same way.

CPU that no probe sees (DuckDB's own threads, Dagster's internals, the collector) shows as the
difference between the process's CPU and the sum of the labels.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any


class Probes:
    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        # (label, thread kind) -> [calls, wall_s, cpu_s]
        self.totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self.main_ident = threading.main_thread().ident
        # The step thread's own intervals per label, to split its time around the fetch.
        self.step_intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self._undo: list[Callable[[], None]] = []

    def _stack(self) -> list[list[Any]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def current(self) -> str | None:
        """The label of the innermost probe running in this thread."""
        stack = self._stack()
        return stack[-1][2] if stack else None

    @contextlib.contextmanager
    def timed(self, label: str) -> Iterator[None]:
        stack = self._stack()
        t0, c0 = time.perf_counter(), time.thread_time()
        stack.append([0.0, 0.0, label])
        try:
            yield
        finally:
            child_wall, child_cpu, _ = stack.pop()
            t1 = time.perf_counter()
            wall, cpu = t1 - t0, time.thread_time() - c0
            kind = "step" if threading.get_ident() == self.main_ident else "worker"
            with self._lock:
                tot = self.totals[(label, kind)]
                tot[0] += 1
                tot[1] += wall - child_wall
                tot[2] += cpu - child_cpu
                self.first.setdefault(label, t0)
                self.last[label] = t1
                if kind == "step":
                    self.step_intervals[label].append((t0, t1))
            if stack:
                stack[-1][0] += wall
                stack[-1][1] += cpu

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Replace ``owner.name`` (a function or method) with a timed one, until ``undo``."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.timed(label):
                return original(*args, **kwargs)

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def wrap_cm(self, owner: Any, name: str, label: str) -> None:
        """Like ``wrap`` for a function returning a context manager: times the whole ``with`` block."""
        original = getattr(owner, name)

        @functools.wraps(original)
        @contextlib.contextmanager
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with self.timed(label), original(*args, **kwargs) as value:
                yield value

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()

    def step_time_between(self, label: str, start: float, end: float) -> float:
        """Wall seconds the step thread spent in ``label`` (children included) within [start, end]."""
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.step_intervals.get(label, ()))

    def by_label(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for (label, kind), (calls, wall, cpu) in self.totals.items():
            row = out.setdefault(label, {"calls": 0, "wall": 0.0, "cpu": 0.0, "step_wall": 0.0})
            row["calls"] += calls
            row["wall"] += wall
            row["cpu"] += cpu
            if kind == "step":
                row["step_wall"] += wall
        return out
