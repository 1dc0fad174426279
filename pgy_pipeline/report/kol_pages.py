"""Render and write KOL pages: in this process when they are few, in worker processes when many.

A KOL page is a pure function of its source (kol_page.PageSource: its KOL's rows and its links),
so building one needs no warehouse. The report's process reads the rows and cuts each page's
source; when a group of KOLs has many pages to (re)write, worker processes build, render and
write them beside it while it reads the next group. Rendering is pure Python (Jinja) and holds the GIL, so threads would not
help: at 10,000 new one-page KOLs, rendering and writing the pages was ~3/4 of the report.

Workers are plain Python processes (``serve``) fed pickled pages through
a pipe, one feeding thread each: not multiprocessing, whose ``spawn`` imports the caller's main
script again in every worker (a script without an ``if __name__ == "__main__"`` guard would run
twice), and not ``fork`` (the report runs inside Dagster's run worker, beside other threads).
They start once per report and only when needed. Every page is written to a temp file and
renamed into place, whichever process writes it.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

from pgy_pipeline.report.kol_page import PageSource
from pgy_pipeline.report.render import render
from pgy_pipeline.report.unchanged import stamp


class Page(NamedTuple):
    """A KOL page to write: where it goes, what it is built from, and its fingerprint (None: none stamped)."""

    path: str
    source: PageSource | None  # None in a worker's task: it unpickles ``pickled``
    pickled: bytes | None  # the source, pickled once, sent to a worker as it is
    print_: str | None

    def for_worker(self) -> Page:
        """Without the source when it is already pickled: it crosses as those bytes."""
        return self if self.pickled is None else self._replace(source=None)

    def page_source(self) -> PageSource:
        if self.source is not None:
            return self.source
        assert self.pickled is not None
        source: PageSource = pickle.loads(self.pickled)
        return source


PROCESSES_MAX = 4  # a report shares its machine with the runs; more helps little past the cores
POOL_FROM = 200  # pages to write in one group before workers are worth their ~0.5 s start
PAGES_PER_TASK = 50  # amortises pickling and the round trip to a worker
TASKS_PER_PROCESS = 3  # queued at most, so the pages waiting for a worker stay few


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it over ``path``: no reader sees half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(text.encode("utf-8"))  # a third faster than a text-mode file for a page with CJK
    os.replace(tmp, path)


def write_pages(pages: list[Page]) -> int:
    """Build each page's inputs from its source, render and write it, its fingerprint at the end; how many."""
    for page in pages:
        html = render("kol.html", **page.page_source().inputs())
        atomic_write(Path(page.path), stamp(html, page.print_) if page.print_ else html)
    return len(pages)


def default_processes() -> int:
    """The worker processes a report may use: the CPUs this process may run on, at most 4."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; macOS has only the machine's count
    cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return max(1, min(PROCESSES_MAX, cpus))


# The answers go to the real stdout; anything printed in the worker goes to stderr, not into them.
_SERVE = (
    f"import sys; from {__name__} import serve; "
    "answers, sys.stdout = sys.stdout.buffer, sys.stderr; serve(sys.stdin.buffer, answers)"
)


class _Worker(threading.Thread):
    """One worker process and the thread that feeds it tasks from the shared queue, one at a time."""

    def __init__(self, tasks: queue.Queue[list[Page] | None], failures: list[str]) -> None:
        super().__init__(name="report-pages", daemon=True)
        self.tasks, self.failures, self.written = tasks, failures, 0
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # This process's imports, and nothing else of its environment (no token crosses).
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )

    def run(self) -> None:
        send, answers = self.process.stdin, self.process.stdout
        assert send is not None and answers is not None
        try:
            while (pages := self.tasks.get()) is not None:
                if self.failures:
                    continue  # drain: the report fails anyway
                pickle.dump(pages, send, protocol=5)
                send.flush()
                ok, answer = pickle.load(answers)
                if ok:
                    self.written += answer
                else:
                    self.failures.append(answer)
        except Exception as exc:  # the worker died (killed, out of memory): its pages are not written
            self.failures.append(f"a report worker process stopped ({type(exc).__name__}: {exc})")
            while self.tasks.get() is not None:
                pass
        finally:
            send.close()
            self.process.wait()


def serve(tasks: IO[bytes], answers: IO[bytes]) -> None:
    """A worker process: write each task's pages, answer (True, pages written) or (False, traceback)."""
    while True:
        try:
            pages = pickle.load(tasks)
        except EOFError:
            return
        try:
            answer: tuple[bool, Any] = (True, write_pages(pages))
        except Exception:
            answer = (False, traceback.format_exc())
        pickle.dump(answer, answers, protocol=5)
        answers.flush()


class PageWriter:
    """Writes the pages it is given, group by group; ``processes`` 1 writes them all in this process.

    Used as a context manager: leaving it waits for every page and raises the first error a worker
    met; leaving it on an error makes the workers skip what they have not started.
    """

    def __init__(self, processes: int | None = None, pool_from: int | None = None) -> None:
        self.processes = default_processes() if processes is None else processes
        self.pool_from = POOL_FROM if pool_from is None else pool_from
        self._written_here = 0
        self._workers: list[_Worker] = []
        self._failures: list[str] = []
        # Bounded: the report's process waits rather than hold more pages than the workers can take.
        self._tasks: queue.Queue[list[Page] | None] = queue.Queue(max(1, self.processes * TASKS_PER_PROCESS))

    @property
    def written(self) -> int:
        """Pages written so far (every page, once the writer was left)."""
        return self._written_here + sum(w.written for w in self._workers)

    @property
    def processes_used(self) -> int:
        """Worker processes started (0: every page was written in this process)."""
        return len(self._workers)

    def __enter__(self) -> PageWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self._failures.append("abandoned: the report failed")
        for _ in self._workers:
            self._tasks.put(None)
        for worker in self._workers:
            worker.join()
        if exc_type is None:
            self._raise_failure()

    def expect(self, pages: int) -> None:
        """Start the workers now if ``pages`` are sure to be written (their start overlaps the reads)."""
        if self.processes > 1 and pages >= self.pool_from:
            self._start()

    def write(self, pages: list[Page]) -> None:
        """Write ``pages`` (one group's): here if they are few, else by the workers."""
        if self.processes <= 1 or (not self._workers and len(pages) < self.pool_from):
            self._written_here += write_pages(pages)
            return
        self._start()
        for first in range(0, len(pages), PAGES_PER_TASK):
            self._raise_failure()
            self._tasks.put([page.for_worker() for page in pages[first : first + PAGES_PER_TASK]])

    def _start(self) -> None:
        if not self._workers:
            self._workers = [_Worker(self._tasks, self._failures) for _ in range(self.processes)]
            for worker in self._workers:
                worker.start()

    def _raise_failure(self) -> None:
        if self._failures:
            raise RuntimeError(f"a report worker process failed to write KOL pages:\n{self._failures[0]}")
