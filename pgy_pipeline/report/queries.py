"""Every read the report makes, by name: one query per view for the whole roster.

The figures come from the warehouse's views (and the ``kol_engagement`` table) as they
are, so the report never disagrees with what an analyst reads in DuckDB. Python only
groups rows by KOL; the one aggregate computed here (notes per month, totals per fetch)
exists in no view.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

Row = dict[str, Any]

# Every KOL the warehouse knows: the roster, plus any KOL whose notes outlived its roster row.
ROSTER_SQL = """
SELECT user_id, k.label, k.category, k.removed_at
FROM kols k FULL JOIN (SELECT DISTINCT user_id FROM notes) n USING (user_id)
ORDER BY user_id
"""

LEADERBOARD_SQL = """
SELECT user_id, label, notes, like_collect_rate_pooled, like_collect_rate_median, reads_median, rank
FROM kol_leaderboard ORDER BY rank, user_id
"""

ORGANIC_VS_COOPERATION_SQL = """
SELECT user_id, kind, notes, reads_median, like_collect_median, like_collect_rate_pooled
FROM kol_organic_vs_cooperation ORDER BY user_id, kind DESC
"""

# kol_engagement is a table the engagement asset rebuilds: it lags the views until that runs.
ENGAGEMENT_SQL = """
SELECT user_id, as_of_date, notes, notes_30d, notes_90d, notes_per_week_90d, last_publish_date,
       viral_low_likes, viral_low_rate, viral_high_likes, viral_high_rate,
       viral_low_rate_90d, viral_high_rate_90d, collect_like_ratio_90d, like_collect_rate_pooled_90d,
       video_notes, video_reads_median, video_like_collect_median, video_like_collect_rate_pooled,
       photo_notes, photo_reads_median, photo_like_collect_median, photo_like_collect_rate_pooled
FROM kol_engagement ORDER BY user_id
"""

# Titles, brands and images are descriptive columns note_engagement leaves out: joined from notes.
# reads_rank orders a KOL's notes by reads for the "top notes" table.
NOTES_SQL = """
SELECT e.user_id, e.note_id, n.title, e.publish_date, e.is_video, e.is_cooperation, n.brand_name,
       n.img_url, e.read_num, e.like_num, e.collect_num, e.like_collect, e.like_collect_rate,
       row_number() OVER (PARTITION BY e.user_id ORDER BY e.read_num DESC NULLS LAST, e.note_id)
           AS reads_rank
FROM note_engagement e JOIN notes n USING (user_id, note_id)
ORDER BY e.user_id, e.publish_date NULLS LAST, e.note_id
"""

# Months without a note are listed with 0 (between a KOL's first and latest), so gaps show.
CADENCE_SQL = """
WITH m AS (
    SELECT user_id, CAST(date_trunc('month', publish_date) AS DATE) AS month, count(*) AS notes
    FROM note_engagement WHERE publish_date IS NOT NULL GROUP BY ALL
), months AS (
    SELECT user_id, CAST(unnest(generate_series(min(month), max(month), INTERVAL 1 MONTH)) AS DATE) AS month
    FROM m GROUP BY user_id
)
SELECT user_id, month, coalesce(m.notes, 0) AS notes
FROM months LEFT JOIN m USING (user_id, month)
ORDER BY user_id, month
"""

# Only complete unfiltered fetches hold every live note, so only their sums are comparable.
HISTORY_SQL = """
SELECT f.user_id, f.fetch_id, f.finished_at AS fetched_at, count(*) AS notes,
       sum(s.read_num) AS reads, sum(s.like_num + s.collect_num) AS like_collect
FROM fetches f JOIN note_snapshots s USING (fetch_id)
WHERE f.is_full AND f.status = 'complete'
GROUP BY ALL ORDER BY f.user_id, fetched_at
"""

LATEST_FETCH_SQL = "SELECT max(finished_at) FROM fetches"

# The buyer's figures (tables of the engagement run, see warehouse/figures.py): read as they are.
FIGURE_SQL = {
    "costs": """
        SELECT user_id, price_type, note_kind, price, currency, valid_from, price_age_days, price_stale,
               reads_median_30d, reads_median_90d, cost_per_1k_reads_30d, cost_per_like_collect_30d,
               cost_per_1k_reads_90d, cost_per_like_collect_90d
        FROM kol_costs ORDER BY user_id, cost_per_1k_reads_90d NULLS LAST, price_type
    """,
    "percentiles": """
        SELECT user_id, figure, price_type, value, roster_kols, roster_percentile, category_kols,
               category_percentile, category_note
        FROM kol_percentiles ORDER BY user_id, figure, price_type
    """,
    "flags": "SELECT user_id, flag, reason, value, reference FROM kol_flags ORDER BY user_id, flag",
    "lifecycle": "SELECT user_id, day, notes, reads_median, like_collect_median FROM kol_lifecycle ORDER BY user_id, day",
    # The curves of each KOL's five newest notes with a lifecycle, drawn against its median note.
    "note_curves": """
        SELECT l.user_id, l.note_id, n.title, l.publish_date, l.day, l.read_num
        FROM note_lifecycle l JOIN notes n USING (user_id, note_id)
        QUALIFY dense_rank() OVER (PARTITION BY l.user_id ORDER BY l.publish_date DESC, l.note_id) <= 5
        ORDER BY l.user_id, l.publish_date DESC, l.note_id, l.day
    """,
    "rising": """
        SELECT user_id, note_id, title, publish_date, day, read_num, like_collect, reads_beats_share,
               kol_reads_median_at_day
        FROM rising_notes ORDER BY user_id, reads_beats_share DESC, note_id
    """,
}
# A view of views.sql: always there, current with notes.
BRANDS_SQL = """
SELECT user_id, brand, notes, first_date, last_date, reads_median, organic_reads_median, reads_vs_organic
FROM kol_brands ORDER BY user_id, last_date DESC, brand
"""


@dataclass
class ReportData:
    """The report's rows, grouped by KOL (``user_id``) where they belong to one."""

    roster: dict[str, Row]
    leaderboard: list[Row]
    ranked: dict[str, Row]
    latest_fetch: Any
    engagement: dict[str, Row] = field(default_factory=dict)
    organic_vs_cooperation: dict[str, list[Row]] = field(default_factory=dict)
    notes: dict[str, list[Row]] = field(default_factory=dict)
    cadence: dict[str, list[Row]] = field(default_factory=dict)
    history: dict[str, list[Row]] = field(default_factory=dict)
    # The buyer's figures, by name of FIGURE_SQL (empty before the engagement run built them).
    figures: dict[str, dict[str, list[Row]]] = field(default_factory=dict)
    brands: dict[str, list[Row]] = field(default_factory=dict)
    notice: str | None = None  # shown at the top of every page, e.g. "simulated data"

    def label(self, user_id: str) -> str | None:
        row = self.roster.get(user_id)
        return row["label"] if row else None

    def category(self, user_id: str) -> str | None:
        row = self.roster.get(user_id)
        return row["category"] if row else None

    def figure(self, name: str, user_id: str) -> list[Row]:
        return self.figures.get(name, {}).get(user_id, [])


def _rows(conn: duckdb.DuckDBPyConnection, sql: str) -> list[Row]:
    cur = conn.execute(sql)
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]


def _grouped(rows: Sequence[Row], keep: set[str] | None) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if keep is None or row["user_id"] in keep:
            out[row["user_id"]].append(row)
    return dict(out)


def _table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM (SELECT table_name AS name FROM duckdb_tables() WHERE schema_name = 'main' "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE schema_name = 'main') WHERE name = ?",
        [name],
    ).fetchone()
    return bool(row and row[0])


def load(conn: duckdb.DuckDBPyConnection, only: set[str] | None = None) -> ReportData:
    """Read everything the report shows; ``only`` keeps the per-KOL rows of those KOLs."""
    latest = conn.execute(LATEST_FETCH_SQL).fetchone()
    has_engagement = _table_exists(conn, "kol_engagement")
    leaderboard = _rows(conn, LEADERBOARD_SQL)
    data = ReportData(
        roster={r["user_id"]: r for r in _rows(conn, ROSTER_SQL)},
        leaderboard=leaderboard,
        ranked={r["user_id"]: r for r in leaderboard},
        latest_fetch=latest[0] if latest else None,
    )
    if has_engagement:
        data.engagement = {r["user_id"]: r for r in _rows(conn, ENGAGEMENT_SQL)}
    data.organic_vs_cooperation = _grouped(_rows(conn, ORGANIC_VS_COOPERATION_SQL), only)
    data.notes = _grouped(_rows(conn, NOTES_SQL), only)
    data.cadence = _grouped(_rows(conn, CADENCE_SQL), only)
    data.history = _grouped(_rows(conn, HISTORY_SQL), only)
    data.brands = _grouped(_rows(conn, BRANDS_SQL), only)
    # Written by the same engagement run as kol_engagement: all there, or (before it ran) none.
    if has_engagement and _table_exists(conn, "rising_notes"):
        data.figures = {name: _grouped(_rows(conn, sql), only) for name, sql in FIGURE_SQL.items()}
    return data
