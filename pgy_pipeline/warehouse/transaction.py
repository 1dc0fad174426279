"""One way to run a block in a transaction: DuckDB, the SQLite state files, and their PostgreSQL twin."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol


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


class PgCursor:
    """The part of ``sqlite3.Connection`` the state code uses, over a psycopg2 connection: the
    same SQL (SQLite's ``?`` placeholders become psycopg2's ``%s``), a cursor back from execute."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[object] = ()) -> Any:
        cur = self._conn.cursor()
        cur.execute(self._sql(sql), tuple(params))
        return cur

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> Any:
        cur = self._conn.cursor()
        cur.executemany(self._sql(sql), [tuple(r) for r in rows])
        return cur


_PG = threading.local()  # one connection per (thread, URL): a state check before every billed call
_PG_SCHEMA = "pgy"


def _pg_connection(url: str) -> Any:
    import psycopg2

    conns: dict[str, Any] = _PG.__dict__.setdefault("conns", {})
    conn = conns.get(url)
    if conn is None or conn.closed:
        try:
            conn = psycopg2.connect(url, connect_timeout=10)
        except psycopg2.Error as exc:
            # libpq's message names host and port, never the password; the URL itself is not shown.
            raise StateStoreError(f"cannot reach the state database (PGY_STATE_URL): {exc}".strip()) from None
        conns[url] = conn
    return conn


class StateStoreError(RuntimeError):
    """The shared state database cannot be reached."""


@contextlib.contextmanager
def pg_transaction(url: str, schema: str, lock_key: int) -> Iterator[PgCursor]:
    """The PostgreSQL twin of ``sqlite_transaction``, with the same guarantee across hosts.

    ``pg_advisory_xact_lock`` first: every transaction on this store queues behind the one in
    progress, as ``BEGIN IMMEDIATE`` makes them on SQLite, so a read-then-write (a budget, a
    claim, a failure count) is never interleaved with another process's, on any host. The
    tables live in their own schema (``pgy``), apart from the Dagster instance's if it is the
    same database; created once per process and URL.
    """
    import psycopg2

    conn = _pg_connection(url)
    cur = PgCursor(conn)
    try:
        cur.execute("SELECT pg_advisory_xact_lock(?)", (lock_key,))
        key = (url, schema)
        if key not in _SET_UP:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_PG_SCHEMA}")
            cur.execute(f"SET LOCAL search_path TO {_PG_SCHEMA}")
            cur.execute(schema)
        else:
            cur.execute(f"SET LOCAL search_path TO {_PG_SCHEMA}")
        yield cur
    except BaseException as exc:
        with contextlib.suppress(psycopg2.Error):
            conn.rollback()
        if isinstance(exc, psycopg2.OperationalError):  # the connection is gone: a new one next time
            conn.close()
        raise
    conn.commit()
    _SET_UP.add((url, schema))
