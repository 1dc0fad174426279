"""The DuckDB warehouse file: one writer at a time, analysts read a published snapshot.

DuckDB lets one process open a database file for writing, and while it does no other
process may open the file at all, not even read-only ("Could not set lock on file").
So the pipeline never writes the file analysts open:

- ``<data>/.state/warehouse.duckdb`` is the working copy. Every write takes a
  cross-process file lock (``fcntl.flock``) and a per-process lock, opens the file,
  writes in one transaction, and closes it: write windows are short and concurrent
  runs queue instead of failing.
- ``<data>/pgy.duckdb`` is the published snapshot: after writes, the working copy is
  checkpointed and copied beside it, then renamed over it (``os.replace`` is atomic).
  A reader that has the old file open keeps reading it; the next open sees the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from pgy_pipeline.warehouse.migrations import migrate
from pgy_pipeline.warehouse.transaction import transaction

log = logging.getLogger(__name__)

PUBLISHED_NAME = "pgy.duckdb"
WORKING_NAME = "warehouse.duckdb"

# One lock per working file for the threads of this process; flock covers other processes.
_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.RLock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(str(path), threading.RLock())


class WarehouseError(RuntimeError):
    """The warehouse file cannot be used (missing directory, read-only, newer schema...)."""


class Warehouse:
    """The DuckDB warehouse under a data directory."""

    def __init__(
        self, data_dir: str | os.PathLike[str], publish_interval_s: float = 2.0, memory_limit: str = "512MB"
    ) -> None:
        self.data_dir = Path(data_dir)
        self.state_dir = self.data_dir / ".state"
        self.working_path = self.state_dir / WORKING_NAME
        self.published_path = self.data_dir / PUBLISHED_NAME
        self.lock_path = self.state_dir / "warehouse.lock"
        self.publish_interval_s = publish_interval_s
        self.memory_limit = memory_limit
        self._last_publish = 0.0
        self._dirty = False

    # -- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create the data directory {self.state_dir}: {exc}") from None
        tlock = _thread_lock(self.working_path)
        with tlock, open(self.lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _connect_rw(self) -> duckdb.DuckDBPyConnection:
        if self.working_path.exists() and not os.access(self.working_path, os.W_OK):
            raise WarehouseError(f"the warehouse file {self.working_path} is read-only; make it writable")
        try:
            conn = duckdb.connect(
                str(self.working_path),
                # A cap on DuckDB's buffers keeps a big replay inside its memory budget;
                # insertion order carries no meaning in these tables, and keeping it costs memory.
                config={"memory_limit": self.memory_limit, "preserve_insertion_order": False},
            )
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open the warehouse {self.working_path}: {exc}") from None
        try:
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def write(self, publish: bool | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a connection inside one transaction; commit on success, roll back on error.

        ``publish``: True publishes the snapshot now, False never, None when the last
        publish is older than ``publish_interval_s`` (keeps big runs from copying the
        file after every KOL).
        """
        with self._locked():
            conn = self._connect_rw()
            try:
                with transaction(conn):
                    yield conn
                self._dirty = True
                due = time.monotonic() - self._last_publish >= self.publish_interval_s
                if publish or (publish is None and due):
                    conn.execute("CHECKPOINT")
                    conn.close()
                    self._publish_locked()
            finally:
                conn.close()

    @contextlib.contextmanager
    def read_working(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the working copy under the writer lock (pipeline-internal reads)."""
        with self._locked():
            conn = self._connect_rw()
            try:
                yield conn
            finally:
                conn.close()

    def ensure(self) -> None:
        """Create or migrate the working copy and publish it if there is no snapshot yet."""
        with self._locked():
            conn = self._connect_rw()
            conn.close()
            if not self.published_path.exists():
                self._publish_locked()

    def publish(self) -> Path:
        """Checkpoint the working copy and atomically replace the published snapshot."""
        with self._locked():
            conn = self._connect_rw()
            try:
                conn.execute("CHECKPOINT")
            finally:
                conn.close()
            self._publish_locked()
        return self.published_path

    def publish_if_dirty(self) -> None:
        if self._dirty:
            self.publish()

    def _publish_locked(self) -> None:
        tmp = self.published_path.with_name(f".{PUBLISHED_NAME}.{os.getpid()}.tmp")
        shutil.copyfile(self.working_path, tmp)
        os.replace(tmp, self.published_path)
        # A WAL beside the snapshot could only come from someone writing to it; replaying
        # it onto the new file would corrupt what analysts see.
        with contextlib.suppress(FileNotFoundError):
            os.remove(str(self.published_path) + ".wal")
        self._last_publish = time.monotonic()
        self._dirty = False

    # -- reading (analysts) ---------------------------------------------------------------

    def connect_snapshot(
        self, config: dict[str, str | bool | int | float | list[str]] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the published snapshot: safe while the pipeline writes."""
        if not self.published_path.exists():
            raise WarehouseError(
                f"no warehouse at {self.published_path} yet: run `pgy refresh` or `make run` first"
            )
        return duckdb.connect(str(self.published_path), read_only=True, config=config or {})

    def connect_sandboxed(self) -> duckdb.DuckDBPyConnection:
        """The snapshot for SQL we did not write (``pgy query``): it can read the snapshot and nothing else.

        Read-only stops writes to the snapshot; with external access off, a statement cannot
        ATTACH the pipeline's working copy, COPY to a file, read other files or load
        extensions; the locked configuration stops it from turning any of that back on.
        """
        return self.connect_snapshot(
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "lock_configuration": True,
            }
        )
