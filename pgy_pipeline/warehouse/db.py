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
  The snapshot is published read-only (mode 0444): it is the pipeline's to replace.
- Someone may write to the snapshot anyway (root ignores the mode). Replacing it would then
  throw their work away, so before each publish the snapshot is checked for evidence of a
  writer: a write-ahead log beside it, a file changed since the pipeline published it, or a
  process holding DuckDB's write lock on it. On any of these the file (and its log) is kept
  under ``<data>/edited/`` (a hard link: the writer's open connection keeps writing to it)
  and a warning names it; the new snapshot is published as usual.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pgy_pipeline import interrupts
from pgy_pipeline.warehouse.migrations import migrate
from pgy_pipeline.warehouse.outside_writes import recorded_signature, signature, writer_evidence
from pgy_pipeline.warehouse.transaction import transaction

log = logging.getLogger(__name__)

PUBLISHED_NAME = "pgy.duckdb"
WORKING_NAME = "warehouse.duckdb"
EDITED_DIR = "edited"
PUBLISHED_MODE = 0o444
# Beside a kept copy that was only held open for writing: its signature when kept.
_UNWRITTEN = ".unwritten"

# A publish copies the whole file: 0.07 s new, 1.45 s at a year of 1,000 KOLs (bench/lake_bench.py).
# Between publishes a run waits this many times the last one's duration, so copying takes at most a
# tenth of the writer's time (and of the disk's) however large the warehouse grows.
PUBLISH_SPACING = 10


def publish_due(since_last: float, last_took: float, interval_s: float) -> bool:
    """Whether a write publishes the snapshot ``since_last`` seconds after the last publish, which
    took ``last_took`` seconds: after ``interval_s`` and PUBLISH_SPACING times that (0: every write)."""
    return interval_s <= 0 or since_last >= max(interval_s, PUBLISH_SPACING * last_took)


# One lock per working file for the threads of this process; flock covers other processes.
_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.RLock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(str(path), threading.RLock())


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    while exc is not None and not isinstance(exc, kind):
        exc = exc.__context__
    return exc is not None


@contextlib.contextmanager
def shielded_connection(
    connect: Callable[[], duckdb.DuckDBPyConnection],
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection from ``connect``, shielded from SIGINT/SIGTERM while it is used, closed after.

    An interrupt cancels the statement running through DuckDB's own interrupt, never through a
    raising handler (interrupts.py: that hangs the connection); the caller's transaction rolls
    back and ``WriteInterrupted`` is raised. Both backends (this file, lake.py) write through it.
    """
    with interrupts.shielded() as shield:
        conn = shield.conn = connect()
        try:
            if shield.pending is not None:  # came while connecting: begin nothing
                raise WriteInterrupted("interrupted before the warehouse was written")
            yield conn
        except duckdb.Error as exc:
            # Cleanup statements after the cancelled one fail too ("transaction is aborted").
            if not (shield.interrupted and _caused_by(exc, duckdb.InterruptException)):
                raise
            raise WriteInterrupted("interrupted: the transaction was rolled back") from None
        finally:
            shield.conn = None
            conn.close()


@dataclasses.dataclass(frozen=True, slots=True)
class KeptEdit:
    """A published snapshot someone else wrote to, kept under edited/ rather than replaced."""

    path: Path
    why: str

    @property
    def message(self) -> str:
        return (
            f"{PUBLISHED_NAME} was written outside the pipeline ({self.why}). It is kept as {self.path} "
            f"and a fresh snapshot replaces it. Keep your own tables in your own database file and "
            f"ATTACH {PUBLISHED_NAME} read-only."
        )


class WarehouseError(RuntimeError):
    """The warehouse file cannot be used (missing directory, read-only, newer schema...)."""


class PublishError(WarehouseError):
    """Writes committed, the snapshot not replaced: readers see the previous one meanwhile."""


class WriteInterrupted(WarehouseError):
    """SIGINT/SIGTERM cancelled the work on the working copy; its transaction was rolled back."""


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
        self.edited_dir = self.data_dir / EDITED_DIR
        # The published snapshot's signature as the pipeline left it (see _outside_writer).
        self.signature_path = self.state_dir / "published.sig"
        self.kept_edits: list[KeptEdit] = []  # snapshots written by someone else, kept by this object
        self.publish_interval_s = publish_interval_s
        self.memory_limit = memory_limit
        self._last_publish = 0.0
        self._publish_took = 0.0  # seconds the last publish took (publish_due)
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

    def _connected(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """The working copy (the caller holds the lock), shielded from SIGINT/SIGTERM, closed after."""
        return shielded_connection(self._connect_rw)

    @contextlib.contextmanager
    def write(self, publish: bool | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a connection inside one transaction; commit on success, roll back on error.

        ``publish``: True publishes the snapshot now, False never, None when ``publish_due``
        (keeps big runs from copying the file after every KOL, and a big file from being
        copied most of the time). A failed publish is logged (None) or raised (True), never the write's.
        """
        with self._locked(), self._connected() as conn:
            with transaction(conn):
                yield conn
            self._dirty = True
            since_last = time.monotonic() - self._last_publish
            due = publish_due(since_last, self._publish_took, self.publish_interval_s)
            if publish or (publish is None and due):
                self._checkpoint_and_publish(conn, quiet=not publish)

    @contextlib.contextmanager
    def read_working(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the working copy under the writer lock (pipeline-internal reads)."""
        with self._locked(), self._connected() as conn:
            yield conn

    def ensure(self) -> None:
        """Create or migrate the working copy and publish it if there is no snapshot yet."""
        with self._locked(), self._connected() as conn:
            conn.close()
            if not self.published_path.exists():
                self._publish_locked()

    def publish(self) -> Path:
        """Checkpoint the working copy and atomically replace the published snapshot (PublishError)."""
        with self._locked(), self._connected() as conn:
            self._checkpoint_and_publish(conn)
        return self.published_path

    def _checkpoint_and_publish(self, conn: duckdb.DuckDBPyConnection, quiet: bool = False) -> None:
        """Publish the working copy of ``conn``; a failure raises PublishError, or only logs it if ``quiet``."""
        try:
            conn.execute("CHECKPOINT")
            conn.close()
            self._publish_locked()
        except Exception as exc:
            self._last_publish = time.monotonic()  # tried: the next attempt waits publish_interval_s
            why = f"{self.published_path} was not published ({type(exc).__name__}: {exc})"
            error = PublishError(f"{why}; the data is in {self.working_path}; readers see the last snapshot")
            if not quiet:
                raise error from exc
            log.warning("%s; a later publish carries it", error)

    def publish_if_dirty(self) -> None:
        if self._dirty:
            self.publish()

    def _publish_locked(self) -> None:
        started = time.monotonic()
        self._drop_unwritten_kept()
        if self.published_path.exists():
            # No record (published by a version that kept none): the signature is no evidence.
            found = writer_evidence(self.published_path, recorded_signature(self.signature_path))
            if found is not None:
                self._keep_outside_edit(*found)
        tmp = self.published_path.with_name(f".{PUBLISHED_NAME}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # left by a crash: read-only, so copying over it would fail
        shutil.copyfile(self.working_path, tmp)
        os.chmod(tmp, PUBLISHED_MODE)
        os.replace(tmp, self.published_path)
        sig = self.signature_path.with_name(f".{self.signature_path.name}.{os.getpid()}.tmp")
        sig.write_text(signature(self.published_path), encoding="utf-8")
        os.replace(sig, self.signature_path)
        self._last_publish = time.monotonic()
        self._publish_took = self._last_publish - started
        self._dirty = False

    def _keep_outside_edit(self, why: str, written: bool) -> KeptEdit:
        """Keep the snapshot someone wrote under edited/ instead of replacing it, and say so.

        A file only held open for writing (nothing written yet) is kept too, since its writer may
        write after this publish; a marker records its signature so that a later publish can drop
        the copy once the writer has gone without writing (``_drop_unwritten_kept``).
        """
        self.edited_dir.mkdir(parents=True, exist_ok=True)
        kept = self.edited_dir / f"pgy.{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.duckdb"
        try:
            # The same file: a writer's open connection goes on writing into the kept copy.
            os.link(self.published_path, kept)
        except OSError:  # no hard links on this file system: a copy keeps what is written so far
            shutil.copy2(self.published_path, kept)
        if not written:
            Path(f"{kept}{_UNWRITTEN}").write_text(signature(kept), encoding="utf-8")
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{self.published_path}.wal", f"{kept}.wal")
        with contextlib.suppress(OSError):
            os.chmod(kept, 0o644)  # the writer's copy: theirs to open read-write
        edit = KeptEdit(kept, why)
        log.warning("%s", edit.message)
        self.kept_edits.append(edit)
        return edit

    def _drop_unwritten_kept(self) -> None:
        """Drop kept copies whose writer went away without writing: unchanged, no log, no lock."""
        for marker in self.edited_dir.glob(f"*{_UNWRITTEN}"):
            kept = Path(str(marker)[: -len(_UNWRITTEN)])
            if not kept.exists():  # removed by hand
                marker.unlink(missing_ok=True)
                continue
            found = writer_evidence(kept, recorded_signature(marker))
            if found is None:
                kept.unlink(missing_ok=True)
                marker.unlink(missing_ok=True)
                log.info("dropped %s: it was held open for writing, and nothing was written", kept)
            elif found[1]:
                marker.unlink(missing_ok=True)  # written after all: kept for good

    def kept_copies(self) -> list[Path]:
        """The snapshots someone wrote to, kept under edited/ (oldest first)."""
        return sorted(self.edited_dir.glob("*.duckdb"))

    # -- reading (analysts) ---------------------------------------------------------------

    @property
    def location(self) -> str:
        """What analysts open (the lake's twin says where its catalog and files are)."""
        return str(self.published_path)

    def exists(self) -> bool:
        """True once a snapshot was published."""
        return self.published_path.exists()

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
