"""The per-KOL failures of the pipeline's state: the retry sensor's worklist (attempts, cooldowns,
failure episodes). Part of ``PipelineState`` (state.py), in its transactions and tables."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pgy_pipeline.warehouse.transaction import PgCursor


@dataclass(frozen=True)
class RetryPolicy:
    """How a KOL that failed with a retry-here outcome is retried (by the retry sensor)."""

    cooldown_s: float = 300.0
    max_attempts: int = 4


@dataclass(frozen=True, slots=True)
class KolFailure:
    user_id: str
    attempts: int
    code: int | None
    error_kind: str
    failed_pages: str | None
    message: str | None
    first_failed_at: datetime
    last_failed_at: datetime
    next_retry_at: datetime | None
    gave_up: bool
    last_run_id: str | None
    filters: str | None  # JSON of the fetch's filters, so the retry asks for the same thing
    # Which failure episode of this KOL (1, 2, ...; 0 for one begun before episodes were counted):
    # a KOL that recovers and fails again starts a new one, and its attempts count from 1 again.
    episode: int = 0


class FailureLog:
    """Failed attempts per KOL; ``PipelineState`` gives the transactions (``_tx``)."""

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection | PgCursor]:
        raise NotImplementedError

    def record_failure(
        self,
        user_id: str,
        *,
        code: int | None,
        error_kind: str,
        failed_pages: str | None,
        message: str,
        run_id: str | None,
        retryable: bool,
        cooldown_s: float,
        max_attempts: int,
        filters: str | None = None,
        now: datetime | None = None,
    ) -> KolFailure:
        """Count a failed attempt; schedule the next retry or give up."""
        now = now or datetime.now(UTC)
        with self._tx() as c:
            row = c.execute(
                "SELECT attempts, first_failed_at FROM kol_failures WHERE user_id = ?", (user_id,)
            ).fetchone()
            attempts = (row[0] if row else 0) + 1
            first = row[1] if row else now.isoformat()
            c.execute("INSERT INTO kol_episodes VALUES (?, 0) ON CONFLICT (user_id) DO NOTHING", (user_id,))
            if row is None:  # the first failure of a new episode
                c.execute("UPDATE kol_episodes SET episodes = episodes + 1 WHERE user_id = ?", (user_id,))
            gave_up = (not retryable) or attempts >= max_attempts
            # Exponential cooldown: base, 2x base, 4x base...
            next_at = None if gave_up else now + timedelta(seconds=cooldown_s * 2 ** (attempts - 1))
            # Replaced within this transaction (both backends' SQL: no INSERT OR REPLACE).
            c.execute("DELETE FROM kol_failures WHERE user_id = ?", (user_id,))
            c.execute(
                "INSERT INTO kol_failures VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    user_id,
                    attempts,
                    code,
                    error_kind,
                    failed_pages,
                    message,
                    first,
                    now.isoformat(),
                    next_at.isoformat() if next_at else None,
                    int(gave_up),
                    run_id,
                    filters,
                ),
            )
        return self.failure(user_id)  # type: ignore[return-value]

    def clear_failure(self, user_id: str) -> None:
        """A KOL that was read (or answered 201): forget its failure, and its no-content mark with it."""
        self.clear_failures([user_id])

    def clear_failures(self, user_ids: Sequence[str]) -> None:
        """``clear_failure`` for many KOLs in one transaction (one commit, not one per KOL)."""
        if not user_ids:
            return
        rows = [(u,) for u in user_ids]
        with self._tx() as c:
            c.executemany("DELETE FROM kol_failures WHERE user_id = ?", rows)
            c.executemany("DELETE FROM no_content WHERE user_id = ?", rows)

    def failure(self, user_id: str) -> KolFailure | None:
        rows = self._failures("WHERE user_id = ?", (user_id,))
        return rows[0] if rows else None

    def failures(self) -> list[KolFailure]:
        return self._failures("ORDER BY last_failed_at", ())

    def due_retries(self, now: datetime | None = None) -> list[KolFailure]:
        now = now or datetime.now(UTC)
        return [
            f
            for f in self._failures(
                "WHERE gave_up = 0 AND next_retry_at IS NOT NULL ORDER BY next_retry_at", ()
            )
            if f.next_retry_at is not None and f.next_retry_at <= now
        ]

    def _failures(self, where: str, args: tuple[object, ...]) -> list[KolFailure]:
        with self._tx() as c:
            rows = c.execute(
                "SELECT *, (SELECT episodes FROM kol_episodes e WHERE e.user_id = kol_failures.user_id) "
                f"FROM kol_failures {where}",
                args,
            ).fetchall()

        def ts(v: str | None) -> datetime | None:
            return datetime.fromisoformat(v) if v else None

        return [
            KolFailure(
                user_id=r[0],
                attempts=r[1],
                code=r[2],
                error_kind=r[3],
                failed_pages=r[4],
                message=r[5],
                first_failed_at=datetime.fromisoformat(r[6]),
                last_failed_at=datetime.fromisoformat(r[7]),
                next_retry_at=ts(r[8]),
                gave_up=bool(r[9]),
                last_run_id=r[10],
                filters=r[11],
                episode=r[12] or 0,
            )
            for r in rows
        ]
