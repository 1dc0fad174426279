"""One way to run a block in a transaction, for DuckDB and for the SQLite state files alike."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class _Executes(Protocol):
    def execute(self, sql: str, /) -> object: ...


@contextlib.contextmanager
def transaction(conn: _Executes, begin: str = "BEGIN TRANSACTION") -> Iterator[None]:
    """Commit the block, or roll it back on any exception (KeyboardInterrupt included)."""
    conn.execute(begin)
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def sqlite_transaction(path: str | os.PathLike[str], schema: str) -> Iterator[sqlite3.Connection]:
    """A short write transaction on a small SQLite file shared by processes (created with ``schema``).

    ``BEGIN IMMEDIATE`` takes the write lock up front, so two processes never both read
    a value and then both act on it (a budget, a claim); WAL keeps readers unblocked.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(schema)
        with transaction(conn, "BEGIN IMMEDIATE"):
            yield conn
    finally:
        conn.close()
