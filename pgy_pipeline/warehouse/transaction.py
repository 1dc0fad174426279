"""One way to run a block in a transaction, for DuckDB and for the SQLite state files alike."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class _Executes(Protocol):
    def execute(self, sql: str, /) -> object: ...


@contextlib.contextmanager
def transaction(conn: _Executes, begin: str = "BEGIN TRANSACTION") -> Iterator[None]:
    """Commit the block, or roll it back on any exception (KeyboardInterrupt included).

    A failed ROLLBACK never hides the exception that caused it: a COMMIT that DuckDB
    interrupted has already ended the transaction ("cannot rollback - no transaction is active").
    """
    conn.execute(begin)
    try:
        yield
    except BaseException as exc:
        try:
            conn.execute("ROLLBACK")
        except Exception as rollback_error:
            exc.add_note(f"(the rollback after it failed too: {rollback_error})")
        raise
    conn.execute("COMMIT")


BUSY_TIMEOUT_S = 30.0


def _use_wal(conn: sqlite3.Connection, timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """Switch the file to WAL, waiting for other connections' locks like any other statement.

    SQLite answers a journal-mode change with "database is locked" at once, without calling
    the busy handler, while another connection holds a lock on a file still in rollback mode
    (two processes starting on a new file). So wait here, up to the same timeout.
    """
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


# (file, schema) pairs this process has set up: the budget check runs a transaction before
# every API call, and setting up again each time tripled its cost.
_SET_UP: set[tuple[str, str]] = set()


@contextlib.contextmanager
def sqlite_transaction(path: str | os.PathLike[str], schema: str) -> Iterator[sqlite3.Connection]:
    """A short write transaction on a small SQLite file shared by processes (created with ``schema``).

    ``BEGIN IMMEDIATE`` takes the write lock up front, so two processes never both read
    a value and then both act on it (a budget, a claim); WAL keeps readers unblocked. WAL
    mode and the schema (both idempotent) are set up once per process and file, and again
    if the file has gone.
    """
    key = (os.fspath(path), schema)
    fresh = key not in _SET_UP or not Path(path).exists()
    if fresh:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        if fresh:
            _use_wal(conn)
            conn.executescript(schema)
            _SET_UP.add(key)
        with transaction(conn, "BEGIN IMMEDIATE"):
            yield conn
    finally:
        conn.close()
