"""Small cross-process pipeline state: the daily call budget, quota stops, retries.

The budget counts what the vendor bills (codes 0 and 201, justoneapi.is_billed). A call's code is
unknown until it answers, so each call *reserves* one billed call before it is made, and the
reservation is released when the answer was not billed (``settle``): the cap holds across threads
and processes whatever the calls in flight answer. Unbilled calls are counted apart, against a
limit of their own (a guard against retrying a failing API for ever).

Why SQLite and not DuckDB: the budget is checked before every billed call by every
worker thread of every concurrent run, so it needs a tiny atomic read-modify-write that
many processes can share. SQLite does that with one ``UPDATE ... WHERE`` in a
transaction; DuckDB allows one writing process at a time.

Past one host (``PGY_STATE_URL``), the same tables and the same SQL run on PostgreSQL, each
transaction serialised by an advisory lock as ``BEGIN IMMEDIATE`` serialises them on SQLite
(``warehouse/transaction.py``): one implementation, so the budget holds and a quota stop stops
every worker on every host. The SQL is the dialect both share (``ON CONFLICT``, no ``OR REPLACE``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pgy_pipeline import settings
from pgy_pipeline.settings import PIPELINE_TZ, SIMULATOR_SOURCE
from pgy_pipeline.warehouse.failures import FailureLog, KolFailure, RetryPolicy
from pgy_pipeline.warehouse.transaction import PgCursor, pg_transaction, sqlite_transaction

# The vendor's daily quota is a China-day quota; budgets follow the same day.
QUOTA_TZ = PIPELINE_TZ

_SCHEMA = """
-- Billed calls per China day, reservations of the calls in flight included.
CREATE TABLE IF NOT EXISTS spend (day TEXT PRIMARY KEY, calls INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS unbilled (day TEXT PRIMARY KEY, calls INTEGER NOT NULL);
-- KOLs whose whole listing answered code 201 (no content), and since when.
CREATE TABLE IF NOT EXISTS no_content (user_id TEXT PRIMARY KEY, since TEXT NOT NULL, run_id TEXT);
CREATE TABLE IF NOT EXISTS stops (kind TEXT PRIMARY KEY, until TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kol_failures (
    user_id TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL,
    code INTEGER,
    error_kind TEXT NOT NULL,
    failed_pages TEXT,
    message TEXT,
    first_failed_at TEXT NOT NULL,
    last_failed_at TEXT NOT NULL,
    next_retry_at TEXT,
    gave_up INTEGER NOT NULL DEFAULT 0,
    last_run_id TEXT,
    filters TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS one_off (user_id TEXT PRIMARY KEY, since TEXT NOT NULL);
-- Failure episodes per KOL: counted up when a failure starts one, never reset (kol_failures
-- rows are deleted when a KOL recovers), so an episode number names one episode for ever.
CREATE TABLE IF NOT EXISTS kol_episodes (user_id TEXT PRIMARY KEY, episodes INTEGER NOT NULL);
"""


def quota_day(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(QUOTA_TZ).date()


def next_quota_reset(now: datetime | None = None) -> datetime:
    day = quota_day(now) + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=QUOTA_TZ).astimezone(UTC)


# A budget block takes at most this share of the headroom left under a limit (state_budget.py).
HEADROOM_SHARE = 16


def block_size(want: int, used: int, limit: int | None) -> int:
    """Calls to reserve now: ``want``, shrunk to 1/HEADROOM_SHARE of what ``limit`` leaves, never 0."""
    if limit is None:
        return want
    return max(1, min(want, (limit - used) // HEADROOM_SHARE))


class SourceMismatch(RuntimeError):
    """A run would write data from another API than the one that filled this data dir."""


# The advisory lock of the state tables (the alert claims take their own: alerts/dedup.py).
STATE_LOCK_KEY = 0x70677901


class PipelineState(FailureLog):
    """``<data>/.state/state.sqlite``, or the database of ``PGY_STATE_URL``; every method is one
    short transaction (the per-KOL failures' are in failures.py)."""

    def __init__(self, data_dir: str | os.PathLike[str], url: str | None = None) -> None:
        self.path = Path(data_dir) / ".state" / "state.sqlite"
        self.url = url or settings.state_url()

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection | PgCursor]:
        if self.url:
            return pg_transaction(self.url, _SCHEMA, STATE_LOCK_KEY)
        return sqlite_transaction(self.path, _SCHEMA)

    # -- source ------------------------------------------------------------------------------

    def source(self) -> str | None:
        """Which API filled this data dir (recorded by the first run that bought data), if known."""
        with self._tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'source'").fetchone()
        return str(row[0]) if row else None

    def holds_simulated_data(self) -> bool:
        """True when this data dir was filled by a simulator (read without creating anything)."""
        return (self.url is not None or self.path.exists()) and self.source() == SIMULATOR_SOURCE

    def claim_source(self, source_id: str, *, holds_data: bool, simulated: bool) -> None:
        """Record ``source_id`` as this data dir's source, or refuse a different one.

        A data dir that already holds data but has no record (made before sources were
        recorded) is refused to a simulator: its data may be real, and simulated notes
        beside real ones would mark the real ones gone.
        """
        data_dir = self.path.parent.parent
        with self._tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'source'").fetchone()
            if row is None:
                if holds_data and simulated:
                    raise SourceMismatch(
                        f"{data_dir} already holds data of unrecorded origin and this run would call a "
                        f"simulator; no call was made. Set JUSTONEAPI_TOKEN where runs execute, or point "
                        f"PGY_DATA_DIR at another data dir for simulated data."
                    )
                c.execute("INSERT INTO meta VALUES ('source', ?)", (source_id,))
            elif row[0] != source_id:
                what = "the simulator" if simulated else f"the API at {source_id}"
                raise SourceMismatch(
                    f"{data_dir} holds data from {row[0]}, and this run would call {what}; no call was "
                    f"made. One data dir holds one source: point PGY_DATA_DIR at another data dir for "
                    f"this source (or set JUSTONEAPI_TOKEN where runs execute, if it is missing there)."
                )

    # -- one-off KOLs --------------------------------------------------------------------------

    def mark_one_off(self, user_ids: list[str]) -> None:
        """KOLs fetched once on request: their partitions exist only for the run, never join the roster."""
        now = datetime.now(UTC).isoformat()
        with self._tx() as c:
            c.executemany(
                "INSERT INTO one_off VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET since = excluded.since",
                [(u, now) for u in user_ids],
            )

    def clear_one_off(self, user_ids: list[str]) -> None:
        with self._tx() as c:
            c.executemany("DELETE FROM one_off WHERE user_id = ?", [(u,) for u in user_ids])

    def one_off(self) -> set[str]:
        with self._tx() as c:
            return {r[0] for r in c.execute("SELECT user_id FROM one_off")}

    # -- spend ------------------------------------------------------------------------------

    def reserve(
        self, budget: int | None, unbilled_limit: int | None = None, now: datetime | None = None
    ) -> str | None:
        """Reserve one billed call of today's budget before a call: None when granted, else what
        refuses it ("budget": the billed calls reached ``budget``; "unbilled": today's unbilled calls
        reached ``unbilled_limit``). Nothing is counted when refused."""
        day = quota_day(now).isoformat()
        with self._tx() as c:
            if unbilled_limit is not None:
                row = c.execute("SELECT calls FROM unbilled WHERE day = ?", (day,)).fetchone()
                if row and row[0] >= unbilled_limit:
                    return "unbilled"
            c.execute("INSERT INTO spend VALUES (?, 0) ON CONFLICT (day) DO NOTHING", (day,))
            if budget is None:
                c.execute("UPDATE spend SET calls = calls + 1 WHERE day = ?", (day,))
                return None
            cur = c.execute("UPDATE spend SET calls = calls + 1 WHERE day = ? AND calls < ?", (day, budget))
            return None if cur.rowcount == 1 else "budget"

    def try_spend(self, budget: int | None, now: datetime | None = None) -> bool:
        """Count one billed call against today's budget; False (and nothing counted) when it is spent."""
        return self.reserve(budget, None, now) is None

    def reserve_block(
        self, budget: int | None, unbilled_limit: int | None, calls: int, now: datetime
    ) -> tuple[int, str | None, int]:
        """Reserve up to ``calls`` billed calls of today's budget in one transaction (state_budget.py):
        (calls granted, what refused them or None, today's unbilled calls). Near a limit the block
        shrinks to a share of what is left (``block_size``); nothing is counted when refused."""
        day = quota_day(now).isoformat()
        with self._tx() as c:
            row = c.execute("SELECT calls FROM unbilled WHERE day = ?", (day,)).fetchone()
            unbilled = int(row[0]) if row else 0
            if unbilled_limit is not None and unbilled >= unbilled_limit:
                return 0, "unbilled", unbilled
            c.execute("INSERT INTO spend VALUES (?, 0) ON CONFLICT (day) DO NOTHING", (day,))
            spent = int(c.execute("SELECT calls FROM spend WHERE day = ?", (day,)).fetchone()[0])
            if budget is not None and spent >= budget:
                return 0, "budget", unbilled
            calls = block_size(block_size(calls, spent, budget), unbilled, unbilled_limit)
            c.execute("UPDATE spend SET calls = calls + ? WHERE day = ?", (calls, day))
        return calls, None, unbilled

    def give_back(self, calls: int, day: str) -> None:
        """Calls reserved on ``day`` (ISO date) and never made: no longer counted."""
        with self._tx() as c:
            c.execute(
                "UPDATE spend SET calls = CASE WHEN calls > ? THEN calls - ? ELSE 0 END WHERE day = ?",
                (calls, calls, day),
            )

    def settle_unbilled(self, now: datetime | None = None) -> int:
        """A reserved call answered without being billed: give its reservation back, count it
        unbilled. Returns today's unbilled calls."""
        day = quota_day(now).isoformat()
        with self._tx() as c:
            c.execute("UPDATE spend SET calls = calls - 1 WHERE day = ? AND calls > 0", (day,))
            c.execute("INSERT INTO unbilled VALUES (?, 0) ON CONFLICT (day) DO NOTHING", (day,))
            c.execute("UPDATE unbilled SET calls = calls + 1 WHERE day = ?", (day,))
            return int(c.execute("SELECT calls FROM unbilled WHERE day = ?", (day,)).fetchone()[0])

    def spent(self, now: datetime | None = None) -> int:
        """Billed calls today (with the reservations of calls in flight)."""
        with self._tx() as c:
            row = c.execute("SELECT calls FROM spend WHERE day = ?", (quota_day(now).isoformat(),)).fetchone()
        return int(row[0]) if row else 0

    def unbilled(self, now: datetime | None = None) -> int:
        """Calls today the vendor did not bill (301, 302, 500, HTTP errors, timeouts...)."""
        with self._tx() as c:
            row = c.execute(
                "SELECT calls FROM unbilled WHERE day = ?", (quota_day(now).isoformat(),)
            ).fetchone()
        return int(row[0]) if row else 0

    # -- KOLs without content (code 201) ----------------------------------------------------

    def mark_no_content(self, user_id: str, now: datetime, run_id: str | None) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO no_content VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET since = excluded.since, run_id = excluded.run_id",
                (user_id, now.isoformat(), run_id),
            )

    def no_content(self) -> dict[str, datetime]:
        """KOLs whose whole listing last answered 201, with when."""
        with self._tx() as c:
            rows = c.execute("SELECT user_id, since FROM no_content").fetchall()
        return {u: datetime.fromisoformat(since) for u, since in rows}

    # -- stops (quota exhausted until the reset) --------------------------------------------

    def set_stop(self, kind: str, until: datetime, reason: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO stops VALUES (?, ?, ?) "
                "ON CONFLICT (kind) DO UPDATE SET until = excluded.until, reason = excluded.reason",
                (kind, until.isoformat(), reason),
            )

    def active_stop(self, now: datetime | None = None) -> tuple[str, datetime, str] | None:
        now = now or datetime.now(UTC)
        with self._tx() as c:
            rows = c.execute("SELECT kind, until, reason FROM stops").fetchall()
        for kind, until, reason in rows:
            until_dt = datetime.fromisoformat(until)
            if until_dt > now:
                return kind, until_dt, reason
        return None

    def quota_stop_until(self, now: datetime | None = None) -> datetime | None:
        """When the active quota stop ends (None without one): a quota stop has its reset time."""
        stop = self.active_stop(now)
        return stop[1] if stop and stop[0] == "quota" else None

    def clear_stop(self, kind: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM stops WHERE kind = ?", (kind,))


# KolFailure and RetryPolicy (failures.py) are the state's types too: importable from here.
__all__ = ["KolFailure", "PipelineState", "RetryPolicy", "SourceMismatch", "next_quota_reset", "quota_day"]
