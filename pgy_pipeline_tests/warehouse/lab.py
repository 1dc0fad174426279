"""A small bench for warehouse tests: fetches stored through the real raw layer, then written.

Each fetch is appended page by page to a ``RawStore`` and written with ``write_fetches``
the way the refresher does it (then sealed with its done/failed row), on a simulated
clock, so tests exercise the real SQL normalisation and can rebuild from the raw layer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from pgy_pipeline.warehouse.migrations import migrate
from pgy_pipeline.warehouse.raw import RawPage, RawStore
from pgy_pipeline.warehouse.replay import fetch_row_to_json, replay_batch
from pgy_pipeline.warehouse.writes import FetchRow, WriteStats, write_fetches

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TABLES = {"notes": "user_id, note_id", "note_snapshots": "fetch_id, note_id", "fetches": "fetch_id"}


def note(
    i: int | str, reads: object = 100, likes: object = 10, collects: object = 5, **extra: Any
) -> dict[str, Any]:
    """One API note (``data.list[]`` entry); ``i`` names it (24 hex chars like the real ids)."""
    note_id = i if isinstance(i, str) else f"{i:024x}"
    item = {
        "noteId": note_id,
        "title": f"note {i}",
        "date": "2026-02-01",
        "isVideo": False,
        "isAdvertise": False,
        "brandName": None,
        "imgUrl": "http://img/x.jpg",
        "readNum": reads,
        "likeNum": likes,
        "collectNum": collects,
        "thirdReadUserNum": 0,
    }
    return item | extra


def nid(i: int) -> str:
    return f"{i:024x}"


def connect() -> duckdb.DuckDBPyConnection:
    # One thread: these databases are tiny, and the test machine's cores are shared.
    conn = duckdb.connect(config={"threads": 1})
    migrate(conn)
    return conn


def write(conn: duckdb.DuckDBPyConnection, rows: Sequence[FetchRow], files: Sequence[Path]) -> WriteStats:
    """One transaction, as ``Warehouse.write`` gives the refresher."""
    conn.execute("BEGIN TRANSACTION")
    try:
        stats = write_fetches(conn, rows, files)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return stats


def dump(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY {key}").fetchall() for t, key in TABLES.items()}


@dataclass
class Lab:
    """A live warehouse (in memory) fed fetch by fetch, with its raw layer on disk."""

    data_dir: Path
    conn: duckdb.DuckDBPyConnection = field(default_factory=connect)
    now: datetime = T0
    stats: list[WriteStats] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.raw = RawStore(self.data_dir)

    def tick(self, minutes: float = 1) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now

    def fetch(
        self,
        user_id: str,
        pages: Sequence[Sequence[dict[str, Any]]],
        *,
        total: int | None = None,
        status: str = "complete",
        stop_reason: str | None = "total_reached",
        third_platform: bool = False,
        advertise_switch: str = "ALL",
        note_type: str = "ALL",
        order_type: str = "LATEST",
        duplicates_dropped: int = 0,
        write: bool = True,
    ) -> FetchRow:
        """Store the pages of one fetch in the raw layer and (by default) write it live."""
        filters = {
            "advertise_switch": advertise_switch,
            "order_type": order_type,
            "note_type": note_type,
            "is_third_platform": "YES" if third_platform else "NO",
        }
        fetch_id = self.raw.begin(user_id, json.dumps(filters, sort_keys=True), filters, "run")
        seen = {n["noteId"] for page in pages for n in page}
        total = len(seen) if total is None else total
        started = None
        for number, items in enumerate(pages, 1):
            at = self.tick()
            started = started or at
            body = json.dumps(
                {"code": 0, "message": "success", "data": {"list": list(items), "total": total}}
            )
            params = {"userId": user_id, "pageNumber": number}
            self.raw.append(
                RawPage(
                    fetch_id, user_id, number, params, at.isoformat(), "run", 200, 0, "r", None, 1, 0.1, body
                )
            )
        row = FetchRow(
            fetch_id=fetch_id,
            user_id=user_id,
            run_id="run",
            advertise_switch=advertise_switch,
            order_type=order_type,
            note_type=note_type,
            is_third_platform=filters["is_third_platform"],
            is_full=advertise_switch == note_type == "ALL" and not third_platform,
            status=status,
            started_at=started,
            finished_at=self.tick(),
            reported_total=total,
            reported_total_min=total,
            notes_returned=len(seen),
            pages=len(pages),
            pages_reused=0,
            calls=len(pages),
            retries=0,
            null_metrics=0,
            duplicates_dropped=duplicates_dropped,
            stop_reason=None if status == "failed" else stop_reason,
            error_code=301 if status == "failed" else None,
            error_kind="retry" if status == "failed" else None,
        )
        if write:
            self.write([row])
        return row

    def write(self, rows: Sequence[FetchRow]) -> WriteStats:
        """Write and seal fetches as the refresher does: DuckDB first, then the done/failed row."""
        files = [self.raw.fetch_file(r.user_id, r.fetch_id) for r in rows if r.status != "failed"]
        stats = write(self.conn, rows, files)
        for r in rows:
            seal = self.raw.mark_failed if r.status == "failed" else self.raw.mark_done
            seal(r.user_id, r.fetch_id, fetch_row_to_json(r))
        self.stats.append(stats)
        return stats

    def rewrite(self, user_id: str, fetch_id: str) -> WriteStats:
        """Write a recorded fetch again from the raw layer (a replay of one fetch)."""
        rows, files = replay_batch(self.raw, [(user_id, fetch_id)])
        return write(self.conn, rows, files)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, list(params)).fetchall()

    def gone(self, user_id: str) -> dict[str, datetime]:
        return dict(
            self.query(
                "SELECT note_id, gone_at FROM notes WHERE user_id = ? AND gone_at IS NOT NULL", user_id
            )
        )


def pages_of(items: Sequence[dict[str, Any]], size: int = 8) -> list[list[dict[str, Any]]]:
    """Split notes into API pages; an empty listing is one empty page."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)] or [[]]
