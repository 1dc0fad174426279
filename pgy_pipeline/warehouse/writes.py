"""Bulk writes into the warehouse: fetches, notes (upsert), snapshots and the call ledger.

Everything arrives as DataFrames and goes in with set-based SQL (no row-by-row inserts).
The caller owns the transaction (``Warehouse.write``), so one fetch is all or nothing.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from pgy_pipeline.warehouse.normalise import stage_notes

CALL_COLUMNS = [
    "called_at",
    "user_id",
    "page_number",
    "attempt",
    "http_status",
    "code",
    "outcome",
    "latency_ms",
    "run_id",
    "fetch_id",
]


@dataclass(frozen=True, slots=True)
class FetchRow:
    """One row of the ``fetches`` table (see its COMMENTs for the meaning of each field)."""

    fetch_id: str
    user_id: str
    run_id: str | None
    advertise_switch: str
    order_type: str
    note_type: str
    is_third_platform: str
    is_full: bool
    status: str
    started_at: datetime | None
    finished_at: datetime
    reported_total: int | None
    reported_total_min: int | None
    notes_returned: int
    pages: int
    pages_reused: int
    calls: int
    retries: int
    null_metrics: int
    duplicates_dropped: int
    stop_reason: str | None = None
    error_code: int | None = None
    error_kind: str | None = None
    failed_pages: str | None = None
    message: str | None = None


FETCH_COLUMNS = [f.name for f in dataclasses.fields(FetchRow)]


@dataclass(frozen=True, slots=True)
class WriteStats:
    fetches: int
    notes_upserted: int
    notes_new: int
    snapshots: int
    marked_gone: int
    calls: int
    new_by_user: dict[str, int] = dataclasses.field(default_factory=dict)
    gone_by_user: dict[str, int] = dataclasses.field(default_factory=dict)


_NOTE_VALUES = """user_id, note_id, title, publish_date, is_video, is_advertise, brand_name, img_url,
    read_num, like_num, collect_num, third_read_user_num"""

_MERGE_NOTES = f"""
MERGE INTO notes USING (SELECT * FROM {{source}} WHERE user_id IN (SELECT user_id FROM _known_users)) AS b
ON notes.user_id = b.user_id AND notes.note_id = b.note_id
-- The newest sighting of each note wins; an older fetch replayed later never overwrites
-- newer metrics (the AND on WHEN MATCHED).
WHEN MATCHED AND b.fetched_at >= notes.last_seen_at THEN UPDATE SET
    title = b.title,
    publish_date = b.publish_date,
    is_video = b.is_video,
    is_advertise = b.is_advertise,
    brand_name = b.brand_name,
    img_url = b.img_url,
    read_num = b.read_num,
    like_num = b.like_num,
    collect_num = b.collect_num,
    third_read_user_num = b.third_read_user_num,
    last_seen_at = b.fetched_at,
    first_seen_at = least(notes.first_seen_at, b.fetched_at),
    -- a fetch older than the gone mark (a replay) does not revive the note
    gone_at = CASE WHEN notes.gone_at IS NOT NULL AND b.fetched_at <= notes.gone_at THEN notes.gone_at END,
    last_fetch_id = b.fetch_id
WHEN MATCHED THEN UPDATE SET first_seen_at = least(notes.first_seen_at, b.fetched_at)
WHEN NOT MATCHED THEN INSERT ({_NOTE_VALUES}, first_seen_at, last_seen_at, gone_at, last_fetch_id)
VALUES (b.user_id, b.note_id, b.title, b.publish_date, b.is_video, b.is_advertise, b.brand_name, b.img_url,
        b.read_num, b.like_num, b.collect_num, b.third_read_user_num, b.fetched_at, b.fetched_at, NULL,
        b.fetch_id)
RETURNING merge_action, notes.user_id
"""

# KOLs with no row yet take a plain insert: the first fetch of a KOL, or a rebuild from the raw layer.
_INSERT_NEW_NOTES = f"""
INSERT INTO notes ({_NOTE_VALUES}, first_seen_at, last_seen_at, gone_at, last_fetch_id)
SELECT {_NOTE_VALUES}, fetched_at, fetched_at, NULL, fetch_id
FROM {{source}} AS b ANTI JOIN _known_users k USING (user_id)
"""

_SNAPSHOT_COLUMNS = "fetch_id, user_id, note_id, fetched_at, page_number, read_num, like_num, collect_num, third_read_user_num"

_MARK_GONE = """
WITH full_fetches AS (
    SELECT user_id, min(started_at) AS started_at, max(finished_at) AS finished_at
    FROM _fetch_batch
    WHERE is_full AND status = 'complete' AND started_at IS NOT NULL
      AND user_id IN (SELECT user_id FROM _known_users)
    GROUP BY user_id
)
UPDATE notes SET gone_at = f.finished_at
FROM full_fetches f
WHERE notes.user_id = f.user_id AND notes.gone_at IS NULL AND notes.last_seen_at < f.started_at
RETURNING notes.user_id
"""


def write_fetches(
    conn: duckdb.DuckDBPyConnection,
    fetches: Sequence[FetchRow],
    note_files: Sequence[str | Path] = (),
    calls: pd.DataFrame | None = None,
) -> WriteStats:
    """Record fetches, upsert their notes, append snapshots and calls, apply the gone rule.

    ``note_files`` are the raw fetch files (``raw/<user>/<fetch>.jsonl``) of the fetches
    whose notes go in, normalised in SQL (``warehouse/normalise.py``). Only fetches with
    status 'complete' and ``is_full`` may mark notes of their KOL as gone, and only notes
    not seen since the fetch started. Idempotent: writing the same fetches again changes
    nothing but ``fetches`` rows.
    """
    fetch_df = pd.DataFrame([dataclasses.astuple(f) for f in fetches], columns=FETCH_COLUMNS)
    for col in ("started_at", "finished_at"):
        fetch_df[col] = pd.to_datetime(fetch_df[col], utc=True)
    by_id = {f.fetch_id: f for f in fetches}
    dedupe = [p for p in note_files if (r := by_id.get(Path(p).stem)) is not None and r.duplicates_dropped]
    staged = stage_notes(conn, note_files, dedupe)
    users = [f.user_id for f in fetches if f.status != "failed"]
    # Only a batch with two fetches of one KOL (a replay) needs to pick each note's newest row.
    source = (
        "(SELECT * FROM _note_batch QUALIFY row_number() OVER "
        "(PARTITION BY user_id, note_id ORDER BY fetched_at DESC) = 1)"
        if len(users) != len(set(users))
        else "_note_batch"
    )
    conn.register("_fetch_batch", fetch_df)
    try:
        conn.execute("INSERT OR REPLACE INTO fetches BY NAME SELECT * FROM _fetch_batch")
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE _known_users AS SELECT DISTINCT user_id FROM notes "
            "WHERE user_id IN (SELECT DISTINCT user_id FROM _fetch_batch)"
        )
        known_row = conn.execute("SELECT count(*) FROM _known_users").fetchone()
        known = bool(known_row and known_row[0])
        new_by_user: Counter[str] = Counter(
            dict(
                conn.execute(
                    f"SELECT user_id, count(*) FROM {source} AS b ANTI JOIN _known_users k USING (user_id) "
                    "GROUP BY user_id"
                ).fetchall()
            )
        )
        conn.execute(_INSERT_NEW_NOTES.format(source=source))
        if known:
            merged = conn.execute(_MERGE_NOTES.format(source=source)).fetchall()
            new_by_user.update(user for action, user in merged if action == "INSERT")
        # Snapshots of a fetch already written (a replay) are not written twice. Fetch ids
        # sort by time and arrive in order, so the filter on them prunes by zone maps.
        seen = conn.execute(
            "SELECT count(*) FROM note_snapshots WHERE fetch_id IN (SELECT fetch_id FROM _fetch_batch)"
        ).fetchone()
        if seen and seen[0]:
            conn.execute(
                f"""
                INSERT INTO note_snapshots ({_SNAPSHOT_COLUMNS})
                SELECT {_SNAPSHOT_COLUMNS} FROM _note_batch
                ANTI JOIN (
                    SELECT fetch_id, note_id FROM note_snapshots
                    WHERE fetch_id IN (SELECT fetch_id FROM _fetch_batch)
                ) s USING (fetch_id, note_id)
                """
            )
        else:
            conn.execute(
                f"INSERT INTO note_snapshots ({_SNAPSHOT_COLUMNS}) SELECT {_SNAPSHOT_COLUMNS} FROM _note_batch"
            )
        # Only KOLs with notes from before this batch can have notes gone.
        gone_rows = conn.execute(_MARK_GONE).fetchall() if known else []
        calls_n = 0
        if calls is not None and len(calls):
            conn.register("_call_batch", calls[CALL_COLUMNS])
            try:
                conn.execute("INSERT INTO api_calls BY NAME SELECT * FROM _call_batch")
            finally:
                conn.unregister("_call_batch")
            calls_n = len(calls)
        distinct = conn.execute(f"SELECT count(*) FROM {source}").fetchone()
    finally:
        conn.unregister("_fetch_batch")
        conn.execute("DROP TABLE IF EXISTS _note_batch")
        conn.execute("DROP TABLE IF EXISTS _known_users")
    return WriteStats(
        fetches=len(fetch_df),
        notes_upserted=int(distinct[0]) if distinct else 0,
        notes_new=sum(new_by_user.values()),
        snapshots=staged,
        marked_gone=len(gone_rows),
        calls=calls_n,
        new_by_user=dict(new_by_user),
        gone_by_user=dict(Counter(r[0] for r in gone_rows)),
    )


def sync_kols(conn: duckdb.DuckDBPyConnection, roster: Sequence[tuple[str, str | None]]) -> None:
    """Mirror the roster into ``kols``: add new ones, update labels, stamp removals."""
    df = pd.DataFrame(list(roster), columns=["user_id", "label"]).astype("string")
    conn.register("_roster", df)
    try:
        conn.execute(
            """
            INSERT INTO kols (user_id, label, added_at)
            SELECT user_id, label, now() FROM _roster
            ON CONFLICT (user_id) DO UPDATE SET label = excluded.label, removed_at = NULL
            """
        )
        conn.execute(
            """
            UPDATE kols SET removed_at = now()
            WHERE removed_at IS NULL AND user_id NOT IN (SELECT user_id FROM _roster)
            """
        )
    finally:
        conn.unregister("_roster")
