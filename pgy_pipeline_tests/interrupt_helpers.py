"""For the interrupt tests: `pgy refresh` in a child process, signals sent at known points, checks.

Landing a signal at a known point, without guessing at timings:
- mid-fetch: the simulator holds every call after the Nth (``hold_after``); once each of the
  run's KOL threads waits on a held call, none is between the client's gate and the wire, so
  the calls in flight are exactly the calls held;
- during a DuckDB write: ``python -m pgy_pipeline_tests.interrupt_helpers refresh ...`` runs
  `pgy` with its first group write made to run one more DuckDB statement inside the write's
  transaction, a statement that only an interrupt ends; a file appears once DuckDB runs it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from pgy_pipeline_tests.simulator_process import counters

REPO = Path(__file__).resolve().parents[1]
PGY = str(Path(sys.executable).with_name("pgy"))
KOL_WORKERS = 8  # PgyResource.kol_workers' default: the threads a refresh fetches KOLs with
IN_WRITE_MARKER = "PGY_TEST_IN_WRITE_MARKER"  # where the instrumented child says DuckDB is running


def block_in_duckdb(conn: duckdb.DuckDBPyConnection, marker: Path) -> None:
    """Run, on ``conn``, a statement that only an interrupt ends; ``marker`` appears once it runs."""
    from duckdb.sqltypes import BIGINT

    said: list[bool] = []

    def running(i: int) -> int:
        if not said:
            said.append(True)
            marker.write_text("DuckDB is running the statement")
        return i

    conn.create_function("pgy_test_running", running, [BIGINT], BIGINT)
    # A trillion rows, one in 64 through Python: DuckDB checks for an interrupt between chunks.
    conn.execute("SELECT sum(pgy_test_running(i)) FROM range(1000000000000) t(i) WHERE i % 64 = 0")


class Child:
    """A `pgy` process whose output is read line by line as it comes."""

    started: list[Child] = []  # killed by ``kill_leftovers`` after each test

    def __init__(self, args: list[str], env: dict[str, str], *, instrumented: bool = False) -> None:
        cmd = [sys.executable, "-m", __name__, *args] if instrumented else [PGY, *args]
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        Child.started.append(self)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def wait_for_line(self, text: str, timeout_s: float = 120) -> None:
        wait_until(lambda: any(text in line for line in self.err), timeout_s, f"{text!r} on stderr", self)

    def finish(self, timeout_s: float = 120) -> tuple[int, str, str]:
        """Wait for the exit; (return code, stdout, stderr). A process still there is killed."""
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        for reader in self._readers:
            reader.join(timeout=10)
        return self.proc.returncode, "".join(self.out), "".join(self.err)


def kill_leftovers() -> None:
    """Kill the children a failed test left running (e.g. waiting on held calls)."""
    for child in Child.started:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()
    Child.started.clear()


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if child is not None and child.proc.poll() is not None:
            raise AssertionError(
                f"the process exited ({child.proc.returncode}) before {what}: {''.join(child.err)}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout_s:.0f} s")
        time.sleep(0.02)


def all_threads_held(url: str, child: Child, threads: int = KOL_WORKERS) -> dict[str, Any]:
    """Wait until ``threads`` calls wait at the simulator (every fetching thread): its counters then."""
    wait_until(lambda: counters(url)["held"] >= threads, 120, f"{threads} calls held", child)
    return counters(url)


def answered(c: dict[str, Any]) -> int:
    return int(c["calls_total"]) - int(c["held"])


def warehouse_lock_is_free(data: Path) -> bool:
    with open(data / ".state" / "warehouse.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True


def _instrumented_pgy() -> None:
    """`pgy` whose first group write also runs ``block_in_duckdb`` in its transaction."""
    from pgy_pipeline.cli import run
    from pgy_pipeline.refresh import landing

    real = landing.write_fetches
    fired: list[bool] = []

    def write_fetches(conn: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> Any:
        stats = real(conn, *args, **kwargs)
        if not fired:
            fired.append(True)
            block_in_duckdb(conn, Path(os.environ[IN_WRITE_MARKER]))
        return stats

    landing.write_fetches = write_fetches  # type: ignore[assignment]
    sys.argv[0] = PGY
    run()


if __name__ == "__main__":
    _instrumented_pgy()
