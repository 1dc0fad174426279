"""Which alerts were already sent: one SQLite table shared by every process of the pipeline.

The same event is seen by several processes (the run's own step, the run-failure sensor, the
retry sensor, later runs under the same stop). A key is *claimed* before the message is sent,
with ``INSERT ... ON CONFLICT DO NOTHING`` inside ``BEGIN IMMEDIATE``, so exactly one of them
sends it, and a restart does not send it again. Kept apart from ``state.sqlite`` so alerting
never holds the lock the budget check waits on before every billed call. On PostgreSQL
(``PGY_STATE_URL``) the same table and SQL, under its own advisory lock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pgy_pipeline import settings
from pgy_pipeline.warehouse.transaction import PgCursor, pg_transaction, sqlite_transaction

_SCHEMA = "CREATE TABLE IF NOT EXISTS sent_alerts (key TEXT PRIMARY KEY, claimed_at TEXT NOT NULL)"
_LOCK_KEY = 0x70677902  # not the state's: alerting never waits on the budget check


class DedupStore:
    """``<data>/.state/alerts.sqlite`` (or PGY_STATE_URL's database); keys older than ``retention``
    are forgotten."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        retention: timedelta = timedelta(days=90),
        url: str | None = None,
    ) -> None:
        self.path = Path(data_dir) / ".state" / "alerts.sqlite"
        self.retention = retention
        self.url = url or settings.state_url()

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection | PgCursor]:
        if self.url:
            return pg_transaction(self.url, _SCHEMA, _LOCK_KEY)
        return sqlite_transaction(self.path, _SCHEMA)

    def claim(self, keys: Iterable[str], now: datetime | None = None) -> list[str]:
        """The keys of ``keys`` nobody claimed before, now claimed by this caller (in the given order)."""
        now = now or datetime.now(UTC)
        claimed = []
        with self._tx() as c:
            c.execute("DELETE FROM sent_alerts WHERE claimed_at < ?", ((now - self.retention).isoformat(),))
            for key in dict.fromkeys(keys):
                cur = c.execute(
                    "INSERT INTO sent_alerts VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                    (key, now.isoformat()),
                )
                if cur.rowcount == 1:
                    claimed.append(key)
        return claimed

    def release(self, keys: Iterable[str]) -> None:
        """Forget claims whose message could not be delivered, so a later attempt may send it."""
        with self._tx() as c:
            c.executemany("DELETE FROM sent_alerts WHERE key = ?", [(k,) for k in keys])
