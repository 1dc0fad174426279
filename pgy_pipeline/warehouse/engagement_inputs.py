"""Which KOLs' rows of kol_engagement are out of date: a digest of each KOL's inputs, kept beside it.

A KOL's row of kol_engagement depends on that KOL's live notes (note_engagement), its roster label
and the times of its last fetches, and on the run's day (the 30/90-day windows end there), its
settings (the like thresholds) and the SQL itself. An ad-hoc refresh of one KOL beside thousands
changes one KOL's inputs; rebuilding every row cost ~0.3 s per 1,000 KOLs.

The evidence, per KOL: its live notes' count and the sum of DuckDB's 64-bit hash of the columns
kol_engagement reads of each (``NOTE_COLUMNS``), hashed with its label and last fetch times (as
report/unchanged.py fingerprints a page). The digests are kept in ``kol_engagement_inputs`` with the
build key (day, settings, a hash of the table's SQL and of the views). A KOL whose digest differs,
that is new or that has no live note any more is rebuilt; a different key, or a table missing,
rebuilds every KOL. Wrong evidence costs a rebuild, never a stale row: a change the digest could
miss would need two different sets of notes with the same count and the same 64-bit hash sum.
"""

from __future__ import annotations

import hashlib
from datetime import date

import duckdb

from pgy_pipeline.warehouse.comments import apply_comments
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline.warehouse.history import FULL_FETCH, INCREMENTAL_FETCH
from pgy_pipeline.warehouse.migrations import VIEWS_HASH

TABLE = "kol_engagement_inputs"
NOW = "kol_engagement_inputs_now"  # this run's digests (temp)
STALE = "kol_engagement_stale"  # the KOLs to rebuild (temp), for kol_engagement_statements(only=)

# The columns of note_engagement that kol_engagement reads. The others are left out on purpose
# (test_engagement_inputs lists every column): age_days counts from today, where kol_engagement
# counts from its as_of day (in the key), and last_seen_at changes at every fetch of unchanged figures.
NOTE_COLUMNS = (
    "note_id",
    "publish_date",
    "is_video",
    "is_cooperation",
    "read_num",
    "like_num",
    "collect_num",
)
NOTE_COLUMNS_LEFT_OUT = (
    "user_id",
    "like_collect",
    "like_collect_rate",
    "like_rate",
    "collect_rate",
    "age_days",
    "last_seen_at",
)

_DIGESTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE {NOW} AS
WITH n AS (
    SELECT user_id, count(*) AS notes, sum(hash({", ".join(NOTE_COLUMNS)})) AS notes_hash
    FROM note_engagement GROUP BY user_id
), r AS (
    SELECT user_id,
           max(finished_at) FILTER (WHERE {FULL_FETCH}) AS full_at,
           max(finished_at) FILTER (WHERE {INCREMENTAL_FETCH}) AS incremental_at
    FROM fetches GROUP BY user_id
)
SELECT n.user_id, hash(n.notes, n.notes_hash, k.label, r.full_at, r.incremental_at) AS digest
FROM n LEFT JOIN kols k USING (user_id) LEFT JOIN r USING (user_id)
"""

_STALE_SQL = f"""
CREATE OR REPLACE TEMP TABLE {STALE} AS
SELECT user_id FROM (
    (SELECT user_id, digest FROM {NOW} EXCEPT SELECT user_id, digest FROM {TABLE})
    UNION ALL
    (SELECT user_id, digest FROM {TABLE} EXCEPT SELECT user_id, digest FROM {NOW})
) GROUP BY user_id
"""

_TABLES_SQL = (
    "SELECT table_name FROM duckdb_tables() "
    "WHERE database_name = current_database() AND schema_name = current_schema() AND NOT temporary"
)

COMMENTS = {
    "": "Pipeline bookkeeping, not a figure: a digest of each KOL's inputs to kol_engagement when its "
    "row was built, so that an engagement run rebuilds only the rows whose inputs changed.",
    "user_id": "Xiaohongshu user id of the KOL (one row per row of kol_engagement).",
    "digest": "64-bit hash of the KOL's live notes (the columns kol_engagement reads), label and last fetch times.",
    "build_key": "What every row was built with: as_of_date, the like thresholds and a hash of the SQL.",
}


def of_kols_in(table: str | None) -> str:
    """A WHERE clause keeping the rows of the KOLs listed in ``table`` ("" for None: every KOL)."""
    return "" if table is None else f" WHERE user_id IN (SELECT user_id FROM {table})"


def build_key(as_of: date, settings: EngagementSettings, columns_sql: str) -> str:
    """What every row of kol_engagement was built with besides its KOL's inputs."""
    code = hashlib.sha256(f"{columns_sql}\n{VIEWS_HASH}".encode()).hexdigest()[:16]
    return f"{as_of.isoformat()}|{settings.viral_low_likes}|{settings.viral_high_likes}|{code}"


def stale_kols(conn: duckdb.DuckDBPyConnection, key: str) -> int | None:
    """Compute this run's digests; fill ``STALE`` with the KOLs whose rows are out of date and
    return how many, or None when every row is (no digests yet, another key, no kol_engagement)."""
    conn.execute(_DIGESTS_SQL)
    tables = {r[0] for r in conn.execute(_TABLES_SQL).fetchall()}
    if not {TABLE, "kol_engagement"} <= tables:
        return None
    keys = conn.execute(f"SELECT DISTINCT build_key FROM {TABLE}").fetchall()
    if keys != [(key,)]:
        return None
    conn.execute(_STALE_SQL)
    row = conn.execute(f"SELECT count(*) FROM {STALE}").fetchone()
    return int(row[0]) if row else 0


def record(conn: duckdb.DuckDBPyConnection, key: str, only_stale: bool) -> int:
    """Keep this run's digests (of the stale KOLs only, or of every KOL) as the rows' inputs;
    returns how many KOLs' rows were rebuilt (a KOL with no live note left: its row removed)."""
    counted = conn.execute(f"SELECT count(*) FROM {STALE if only_stale else NOW}").fetchone()
    if only_stale:
        conn.execute(f"DELETE FROM {TABLE}{of_kols_in(STALE)}")
        conn.execute(
            f"INSERT INTO {TABLE} SELECT user_id, digest, ? FROM {NOW}{of_kols_in(STALE)}",
            [key],
        )
    else:
        conn.execute(
            f"CREATE OR REPLACE TABLE {TABLE} AS SELECT user_id, digest, ?::VARCHAR AS build_key FROM {NOW}",
            [key],
        )
        apply_comments(conn, TABLE, COMMENTS)
    conn.execute(f"DROP TABLE IF EXISTS {STALE}")
    conn.execute(f"DROP TABLE {NOW}")
    return int(counted[0]) if counted else 0
