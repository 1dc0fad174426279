"""Bulk writes into the warehouse: fetches, notes (upsert), snapshots, the gone rule and the call ledger.

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
from typing import TYPE_CHECKING

import duckdb

from pgy_pipeline.warehouse.gone import apply_gone_rule
from pgy_pipeline.warehouse.normalise import stage_notes
from pgy_pipeline.warehouse.notes import METRICS, upsert_notes

if TYPE_CHECKING:
    import pandas as pd

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
    "billed",
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
    # Per note field of the contract, over the fetch's pages: notes read, and values sent as null,
    # missing, or unreadable (JSON; justoneapi.contract.FieldCounts.as_json). The notes check reads it.
    field_counts: str | None = None


FETCH_COLUMNS = [f.name for f in dataclasses.fields(FetchRow)]


def fetch_values(row: FetchRow) -> tuple[object, ...]:
    """The row's values in FETCH_COLUMNS order. Every field is a scalar, so none is copied:
    dataclasses.astuple deep-copies each value (35 µs a row, its datetimes through copy.deepcopy,
    on the step's thread for every KOL)."""
    return tuple(getattr(row, c) for c in FETCH_COLUMNS)


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
    # Notes seen again after being marked gone: a deletion the evidence got wrong, or undone.
    revived_by_user: dict[str, int] = dataclasses.field(default_factory=dict)
    # Metric values stored as NULL (null, missing or unreadable in the API's answer); the
    # notes table keeps the last known value instead, note_snapshots keeps the NULL.
    null_metrics_by_user: dict[str, int] = dataclasses.field(default_factory=dict)
    # Notes whose `date` was present but not a YYYY-MM-DD calendar date (publish_date NULL).
    dates_unreadable_by_user: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def revived(self) -> int:
        return sum(self.revived_by_user.values())

    @property
    def null_metrics(self) -> int:
        return sum(self.null_metrics_by_user.values())

    @property
    def dates_unreadable(self) -> int:
        return sum(self.dates_unreadable_by_user.values())


# One call is one (run, KOL, page, attempt, start time): the same record twice is one call.
_CALLS_NOT_STORED = """
    b WHERE NOT EXISTS (
        SELECT 1 FROM api_calls a
        WHERE a.run_id IS NOT DISTINCT FROM b.run_id AND a.user_id = b.user_id
          AND a.page_number = b.page_number AND a.attempt = b.attempt AND a.called_at = b.called_at
    )"""


def write_fetches(
    conn: duckdb.DuckDBPyConnection,
    fetches: Sequence[FetchRow],
    note_files: Sequence[str | Path] = (),
    calls: pd.DataFrame | None = None,
    *,
    calls_may_be_stored: bool = False,
) -> WriteStats:
    """Record fetches, upsert their notes, append snapshots and calls, apply the gone rule.

    ``calls_may_be_stored``: the same calls may already be in ``api_calls`` (a write that an
    interrupt cancelled during its COMMIT may have committed after all): only the calls not there
    yet are added. Everything else is idempotent anyway; the ledger is an append.

    ``note_files`` are the raw fetch files (``raw/<user>/<fetch>.jsonl``) of the fetches
    whose notes go in, normalised in SQL (``warehouse/normalise.py``). The result depends
    on the set of fetches written, not on their order or batching (``warehouse/notes.py``,
    ``warehouse/gone.py``): a rebuild from the raw layer gives the live database back.
    Idempotent: writing the same fetches again changes nothing.
    """
    if not fetches:  # an empty frame's columns are typed by guess (user_id as INTEGER): no statement
        calls_n = _append_calls(conn, calls, calls_may_be_stored)
        return WriteStats(fetches=0, notes_upserted=0, notes_new=0, snapshots=0, marked_gone=0, calls=calls_n)
    by_id = {f.fetch_id: f for f in fetches}
    dedupe = [p for p in note_files if (r := by_id.get(Path(p).stem)) is not None and r.duplicates_dropped]
    staged = stage_notes(conn, note_files, dedupe)
    counted = {
        fetch_id: (user_id, int(nulls), int(dates))
        for fetch_id, user_id, nulls, dates in conn.execute(
            "SELECT fetch_id, any_value(user_id), "
            + " + ".join(f"count(*) FILTER (WHERE {m} IS NULL)" for m in METRICS)
            + ", count(*) FILTER (WHERE date_unreadable) FROM _note_batch GROUP BY fetch_id"
        ).fetchall()
    }
    with_files = {Path(p).stem for p in note_files}
    fetch_df = _fetch_frame(fetches, counted, with_files)
    conn.register("_fetch_batch", fetch_df)
    try:
        # A MERGE on the key, not INSERT OR REPLACE: DuckLake has no primary keys (lake_schema.py).
        conn.execute(
            "MERGE INTO fetches USING _fetch_batch AS b ON fetches.fetch_id = b.fetch_id "
            "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT BY NAME"
        )
        conn.execute("CREATE OR REPLACE TEMP TABLE _batch_users AS SELECT DISTINCT user_id FROM _fetch_batch")
        users = [f.user_id for f in fetches if f.fetch_id in with_files]
        upserted = upsert_notes(conn, several_per_note=len(users) != len(set(users)))
        store_fetch_totals(conn)
        gone = apply_gone_rule(conn, "_batch_users")
        calls_n = _append_calls(conn, calls, calls_may_be_stored)
    finally:
        conn.unregister("_fetch_batch")
        for table in ("_note_batch", "_batch_users"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    nulls_by_user: Counter[str] = Counter()
    dates_by_user: Counter[str] = Counter()
    for user_id, nulls, dates in counted.values():
        nulls_by_user[user_id] += nulls
        dates_by_user[user_id] += dates
    return WriteStats(
        fetches=len(fetch_df),
        notes_upserted=upserted.distinct,
        notes_new=sum(upserted.new_by_user.values()),
        snapshots=staged,
        marked_gone=sum(gone.marked_by_user.values()),
        calls=calls_n,
        new_by_user=upserted.new_by_user,
        gone_by_user=gone.marked_by_user,
        revived_by_user=gone.revived_by_user,
        null_metrics_by_user={u: n for u, n in nulls_by_user.items() if n},
        dates_unreadable_by_user={u: n for u, n in dates_by_user.items() if n},
    )


def store_fetch_totals(
    conn: duckdb.DuckDBPyConnection, fetch_ids: str = "SELECT fetch_id FROM _fetch_batch"
) -> None:
    """fetch_totals of the fetches ``fetch_ids`` (a query) selects, summed from their stored
    snapshots (a resumed fetch's grow with it); the writer calls it in the transaction that stored
    them. Fetch ids sort by time: the read prunes by zone maps (notes.py::_append_snapshots). Code
    that stores snapshots by other means (tests, benchmarks) calls it after them."""
    batch = f"fetch_id IN ({fetch_ids})"
    conn.execute(f"DELETE FROM fetch_totals WHERE {batch}")
    conn.execute(
        "INSERT INTO fetch_totals BY NAME SELECT fetch_id, count(*) AS notes, sum(read_num) AS reads, "
        f"sum(like_num + collect_num) AS like_collect FROM note_snapshots WHERE {batch} GROUP BY fetch_id"
    )


def _fetch_frame(
    fetches: Sequence[FetchRow], counted: dict[str, tuple[str, int, int]], with_files: set[str]
) -> pd.DataFrame:
    """The fetches as a frame for the MERGE. null_metrics is what the warehouse stored as NULL,
    counted from the raw pages, so a replay writes the same figure as the live run (the client
    counts before de-duplication)."""
    import pandas as pd  # here, not at import: every `pgy` command would pay ~0.4 s for it

    fetch_df = pd.DataFrame(
        [
            fetch_values(
                dataclasses.replace(f, null_metrics=counted.get(f.fetch_id, ("", 0, 0))[1])
                if f.fetch_id in with_files
                else f
            )
            for f in fetches
        ],
        columns=FETCH_COLUMNS,
    )
    for col in ("started_at", "finished_at"):
        fetch_df[col] = pd.to_datetime(fetch_df[col], utc=True)
    return fetch_df


def _append_calls(conn: duckdb.DuckDBPyConnection, calls: pd.DataFrame | None, may_be_stored: bool) -> int:
    """Append ``calls`` to the ledger (only those not there yet when ``may_be_stored``); how many."""
    if calls is None or not len(calls):
        return 0
    conn.register("_call_batch", calls[CALL_COLUMNS])
    try:
        conn.execute(
            "INSERT INTO api_calls BY NAME SELECT * FROM _call_batch"
            + (_CALLS_NOT_STORED if may_be_stored else "")
        )
    finally:
        conn.unregister("_call_batch")
    return len(calls)


def sync_kols(conn: duckdb.DuckDBPyConnection, roster: Sequence[tuple[str, str | None, str | None]]) -> None:
    """Mirror the roster into ``kols``: add new ones, update labels and categories, stamp removals.

    Only the rows that change are written: on the lake a rewritten row is a deletion and an insertion,
    and every run syncs the roster."""
    rows = list(roster)
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _roster AS "
        "SELECT unnest($ids::VARCHAR[]) AS user_id, unnest($labels::VARCHAR[]) AS label, "
        "unnest($categories::VARCHAR[]) AS category",
        {
            "ids": [u for u, _, _ in rows],
            "labels": [label for _, label, _ in rows],
            "categories": [category for _, _, category in rows],
        },
    )
    try:
        conn.execute(
            """
            MERGE INTO kols USING _roster AS r ON kols.user_id = r.user_id
            WHEN MATCHED AND (kols.label IS DISTINCT FROM r.label OR kols.category IS DISTINCT FROM r.category
                OR kols.removed_at IS NOT NULL)
                THEN UPDATE SET label = r.label, category = r.category, removed_at = NULL
            WHEN NOT MATCHED THEN INSERT (user_id, label, category, added_at)
                VALUES (r.user_id, r.label, r.category, now())
            """  # a MERGE on the key: DuckLake has no primary keys (lake_schema.py)
        )
        conn.execute(
            """
            UPDATE kols SET removed_at = now()
            WHERE removed_at IS NULL AND user_id NOT IN (SELECT user_id FROM _roster)
            """
        )
    finally:
        conn.execute("DROP TABLE IF EXISTS _roster")
