"""Pool slots of `pgy` runs whose process died are given back.

A refresh step holds the instance's `justoneapi` pool slot (one step at a time calls the
API). A `pgy refresh` killed outright (SIGKILL, OOM, a closed laptop) never releases it,
and with no daemon watching in-process runs, every later run would wait for that slot for
ever. So each `pgy` process holds an flock on a marker file for as long as it lives, and
tags its runs with the marker's name; the kernel drops the lock when the process dies.
Before running, `pgy` frees the slots of runs whose marker is no longer locked and marks
those runs failed. Runs the daemon or the UI launched carry no marker and are never touched.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from pathlib import Path
from typing import IO

import dagster as dg

PROCESS_TAG = "pgy/cli_process"
_MARKERS = ".pgy-cli-processes"

_held: dict[Path, tuple[str, IO[str]]] = {}


def process_marker(home: Path) -> str:
    """This process's marker in ``home`` (created and locked once, held until the process exits)."""
    if home not in _held:
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        path = home / _MARKERS / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "w")  # noqa: SIM115 (kept open: the lock lives as long as the process)
        fcntl.flock(fh, fcntl.LOCK_EX)
        _held[home] = (name, fh)
    return _held[home][0]


def _is_dead(home: Path, name: str) -> bool:
    path = home / _MARKERS / f"{name}.lock"
    if not path.exists():
        return True
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        path.unlink(missing_ok=True)
        return True


def reclaim_slots_of_dead_runs(instance: dg.DagsterInstance, home: Path) -> list[str]:
    """Free the pool slots held by `pgy` runs whose process is gone; returns their run ids."""
    freed = []
    for run_id in sorted(instance.event_log_storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        name = run.tags.get(PROCESS_TAG) if run else None
        if run is None or name is None or name == _held.get(home, ("", None))[0] or not _is_dead(home, name):
            continue
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        if not run.is_finished:
            instance.report_run_failed(run, "its `pgy` process died; its pool slot was given back")
        freed.append(run_id)
    return freed
