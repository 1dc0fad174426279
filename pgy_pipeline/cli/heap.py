"""Python's cyclic garbage collector around the start-up and the exit of a ``pgy`` process.

Loading the pipeline (importing Dagster, building the definitions, opening the instance)
allocates a few hundred thousand long-lived objects and next to no garbage, yet the
collector walks them again each time the heap has grown by a quarter; and at exit the
interpreter walks the whole heap once more, to free memory the operating system takes back
anyway. Measured on the reference machine (bench/RESULTS.md), that is about 1 s of every
``pgy refresh`` spent outside the fetch.

So the collector is off while the pipeline loads; the loaded heap is then frozen
(``gc.freeze``: later collections skip it) and collection resumes for whatever a run
allocates. At exit the heap is frozen again. (Python's documentation of ``gc.freeze``
describes the same pattern, collector off early and freeze once loaded, for a server that
forks workers; here the gain is the collector's time, not copy-on-write memory.)
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg


@contextmanager
def loading() -> Iterator[None]:
    """Collect nothing inside; freeze what was loaded at the end, then collect as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def load_pipeline() -> tuple[dg.Definitions, dg.DagsterInstance]:
    """Import Dagster, build the definitions and open the instance, with the collector off."""
    with loading():
        from pgy_pipeline.cli import runner  # Dagster: imported only by the commands that run it

        return runner.load()


def exiting() -> None:
    """Spare the interpreter's final walk of the heap: the process is about to end."""
    gc.freeze()
