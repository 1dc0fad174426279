"""Derived engagement tables, recomputed in SQL inside DuckDB.

What "engagement" means here: the Notes Details endpoint gives likes and collects
(赞藏) but no comments or shares, so the measure is **like_collect = likes + collects**
and the rate is **like_collect_rate = like_collect / reads**. It is NOT the platform's
full engagement rate (互动率, which also counts comments and shares); column names say
``like_collect`` so nobody mistakes one for the other. Notes marked gone are left out, and
so are notes of the third_platform scope (only listed with isThirdPlatform=YES): the tables
cover the KOL's default listing, what the platform shows buyers (``notes.scope``).
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import duckdb

from pgy_pipeline.warehouse import engagement_inputs as inputs
from pgy_pipeline.warehouse.comments import apply_comments as _apply_comments
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline.warehouse.figures import refresh_figures
from pgy_pipeline.warehouse.history import FULL_FETCH, INCREMENTAL_FETCH

_SEGMENTS = {
    "": ("TRUE", "all live notes"),
    "organic_": ("NOT is_cooperation", "organic (daily, non-cooperation) notes"),
    "coop_": ("is_cooperation", "cooperation (advertised or branded) notes"),
    "video_": ("is_video", "video notes"),
    "photo_": ("NOT is_video", "photo-and-text notes"),
}
_WINDOWS = {"30d": 30, "90d": 90}
Column = tuple[str, str]  # (name, SQL)


def _segment_columns() -> tuple[list[Column], dict[str, str]]:
    cols: list[Column] = []
    comments: dict[str, str] = {}
    for prefix, (cond, what) in _SEGMENTS.items():
        f = f"FILTER (WHERE {cond})"
        cols += [
            (f"{prefix}notes", f"count(*) {f}"),
            (f"{prefix}reads_median", f"median(read_num) {f}"),
            (f"{prefix}reads_mean", f"avg(read_num) {f}"),
            (f"{prefix}like_collect_median", f"median(like_collect) {f}"),
            (
                f"{prefix}like_collect_rate_pooled",
                f"sum(like_collect) FILTER (WHERE {cond} AND read_num > 0) "
                f"/ nullif(sum(read_num) FILTER (WHERE {cond} AND like_collect IS NOT NULL), 0)",
            ),
            (f"{prefix}like_collect_rate_median", f"median(like_collect_rate) {f}"),
        ]
        comments |= {
            f"{prefix}notes": f"Number of {what}.",
            f"{prefix}reads_median": f"Median reads of {what}.",
            f"{prefix}reads_mean": f"Mean reads of {what} (pulled up by viral notes; prefer the median).",
            f"{prefix}like_collect_median": f"Median likes + collects of {what}.",
            f"{prefix}like_collect_rate_pooled": f"Sum of likes + collects / sum of reads over {what} "
            "(notes with reads > 0 and both metrics known). Not the full 互动率.",
            f"{prefix}like_collect_rate_median": f"Median of per-note like_collect_rate over {what}.",
        }
    for label, days in _WINDOWS.items():
        w = f"publish_date > CAST($as_of AS DATE) - {days}"
        cols.append((f"notes_{label}", f"count(*) FILTER (WHERE {w})"))
        comments[f"notes_{label}"] = f"Notes published in the {days} days up to as_of_date."
        for prefix in ("", "organic_", "coop_", "video_", "photo_"):
            cond, what = _SEGMENTS[prefix]
            f = f"FILTER (WHERE {w} AND {cond})"
            cols += [
                (f"{prefix}reads_median_{label}", f"median(read_num) {f}"),
                (f"{prefix}like_collect_median_{label}", f"median(like_collect) {f}"),
            ]
            comments[f"{prefix}reads_median_{label}"] = f"Median reads of {what} of the last {days} days."
            comments[f"{prefix}like_collect_median_{label}"] = (
                f"Median likes + collects of {what} of the last {days} days."
            )
    return cols, comments


def _share_columns() -> tuple[list[Column], dict[str, str]]:
    """百赞/千赞 shares, the collect/like ratio (赞藏比) and the pooled rate, per window and kind."""
    cols: list[Column] = []
    comments: dict[str, str] = {}
    windows = {
        "": ("TRUE", "all live notes' time"),
        **{
            f"_{label}": (f"publish_date > CAST($as_of AS DATE) - {days}", f"the last {days} days")
            for label, days in _WINDOWS.items()
        },
    }
    for prefix in ("", "organic_", "coop_"):
        cond, what = _SEGMENTS[prefix]
        for suffix, (w, when) in windows.items():
            known = f"{cond} AND {w} AND like_num IS NOT NULL"
            for level in ("low", "high"):
                name = f"{prefix}viral_{level}_rate{suffix}"
                if name in ("viral_low_rate", "viral_high_rate"):
                    continue  # the original all-notes columns, kept where they were
                cols.append(
                    (
                        name,
                        f"count(*) FILTER (WHERE {known} AND like_num >= $viral_{level}) "
                        f"/ nullif(count(*) FILTER (WHERE {known}), 0)",
                    )
                )
                likes = "百赞: viral_low_likes" if level == "low" else "千赞: viral_high_likes"
                comments[name] = (
                    f"Share of {what} ({when}) with at least {likes} likes (notes with known likes)."
                )
            both = f"{cond} AND {w} AND like_num IS NOT NULL AND collect_num IS NOT NULL"
            ratio = f"{prefix}collect_like_ratio{suffix}"
            cols.append(
                (
                    ratio,
                    f"sum(collect_num) FILTER (WHERE {both}) / nullif(sum(like_num) FILTER (WHERE {both}), 0)",
                )
            )
            comments[ratio] = (
                f"Collects per like (赞藏比 as collects / likes), pooled over {what} ({when}) with both known; "
                "NULL without a like. High values mean notes kept for later (guides, recipes)."
            )
            if suffix:
                rate = f"{prefix}like_collect_rate_pooled{suffix}"
                cols.append(
                    (
                        rate,
                        f"sum(like_collect) FILTER (WHERE {cond} AND {w} AND read_num > 0) "
                        f"/ nullif(sum(read_num) FILTER (WHERE {cond} AND {w} AND like_collect IS NOT NULL), 0)",
                    )
                )
                comments[rate] = (
                    f"Sum of likes + collects / sum of reads over {what} of {when} (reads > 0, both known). "
                    "Not the full 互动率."
                )
    return cols, comments


# The columns of kol_engagement that are the row's own, not an aggregate over the KOL's notes: the
# label, the date, the like thresholds and the last fetches (aliases of the final statement's joins).
_OWN = {
    "label": "k.label",
    "as_of_date": "CAST($as_of AS DATE)",
    "viral_low_likes": "$viral_low",
    "viral_high_likes": "$viral_high",
    "last_full_refresh_at": "r.last_full_refresh_at",
    "last_incremental_refresh_at": "r.last_incremental_refresh_at",
}


def _own(name: str) -> Column:
    return name, _OWN[name]


def _columns() -> tuple[list[Column], dict[str, str]]:
    """kol_engagement's columns in table order, and their comments."""
    seg_cols, seg_comments = _segment_columns()
    share_cols, share_comments = _share_columns()
    cols: list[Column] = [
        _own("label"),
        _own("as_of_date"),
        *seg_cols,
        _own("viral_low_likes"),
        ("viral_low_rate", "count(*) FILTER (WHERE like_num >= $viral_low) / nullif(count(like_num), 0)"),
        _own("viral_high_likes"),
        ("viral_high_rate", "count(*) FILTER (WHERE like_num >= $viral_high) / nullif(count(like_num), 0)"),
        *share_cols,
        ("last_publish_date", "max(publish_date)"),
        (
            "notes_per_week_90d",
            "count(*) FILTER (WHERE publish_date > CAST($as_of AS DATE) - 90) / (90 / 7.0)",
        ),
        _own("last_full_refresh_at"),
        _own("last_incremental_refresh_at"),
    ]
    comments = {
        "": "One row per KOL: note counts, reads and like_collect (likes + collects) medians and rates, "
        "split organic vs cooperation and video vs photo, over all live notes of the default listing "
        "(notes.scope = default; third_platform notes left out) and the last 30/90 days. "
        "like_collect excludes comments and shares (the endpoint has none): not the platform's 互动率.",
        "user_id": "Xiaohongshu user id of the KOL.",
        "label": "Roster label of the KOL.",
        "as_of_date": "Date (Asia/Shanghai) the table was computed; the 30/90-day windows end here.",
        "viral_low_likes": "Like threshold of viral_low_rate (百赞 by default: 100).",
        "viral_low_rate": "Share of notes with at least viral_low_likes likes (notes with known likes).",
        "viral_high_likes": "Like threshold of viral_high_rate (千赞 by default: 1,000).",
        "viral_high_rate": "Share of notes with at least viral_high_likes likes: the platform's 爆文率 proxy.",
        "last_publish_date": "Publish date of the KOL's latest live note.",
        "notes_per_week_90d": "Notes published per week over the last 90 days.",
        "last_full_refresh_at": "When the KOL's last complete full fetch finished (UTC): every page read, "
        "the only kind that refreshes old notes and may mark notes gone. Weekly by default (the rota).",
        "last_incremental_refresh_at": "When the KOL's last incremental fetch finished (UTC): newest notes "
        "down to the date window only; older notes keep the metrics of the last full fetch.",
    }
    return cols, {**comments, **seg_comments, **share_comments}


KOL_ENGAGEMENT_COLUMNS, KOL_ENGAGEMENT_COMMENTS = _columns()

# A median holds every value of its group until the group ends (~15 bytes a value): the 35
# medians of 4.3 million notes (10,000 KOLs of full history) held at once came to 600 MB, past
# the connection's memory limit. So the medians are computed a few at a time, each statement
# holding at most this many values, beside one statement of every other aggregate; the parts
# are joined on user_id. Faster too: 4.1 s and 330 MiB against 9.5 s and 845 MiB in one statement
# (4.3 million notes; DuckDB runs many FILTERed aggregates beside medians slowly). Past ~30 million
# live notes one median alone would pass the limit: the rows would then be split by KOL too.
MEDIAN_VALUES_PER_STATEMENT = 10_000_000


def kol_engagement_statements(
    notes: int, median_values: int = MEDIAN_VALUES_PER_STATEMENT, only: str | None = None
) -> list[str]:
    """The SQL that rebuilds kol_engagement over ``notes`` live notes, in order (one transaction).
    ``only``: a table of user_ids whose rows alone are rebuilt, the others kept (engagement_inputs.py)."""
    where = inputs.of_kols_in(only)
    aggregates = [(name, sql) for name, sql in KOL_ENGAGEMENT_COLUMNS if name not in _OWN]
    medians = [c for c in aggregates if c[1].startswith("median(")]
    per = max(1, median_values // max(notes, 1))
    parts = [[c for c in aggregates if c not in medians]]
    parts += [medians[i : i + per] for i in range(0, len(medians), per)]
    part_of = {name: j for j, part in enumerate(parts) for name, _ in part}
    statements = [
        f"CREATE OR REPLACE TEMP TABLE kol_engagement_part{j} AS SELECT user_id, "
        + ", ".join(f"{sql} AS {name}" for name, sql in part)
        + f" FROM note_engagement{where} GROUP BY user_id"
        for j, part in enumerate(parts)
    ]
    select = ", ".join(
        f"{sql} AS {name}" if name in _OWN else f"p{part_of[name]}.{name}"
        for name, sql in KOL_ENGAGEMENT_COLUMNS
    )
    joins = "".join(f" JOIN kol_engagement_part{j} p{j} USING (user_id)" for j in range(1, len(parts)))
    rows = f"""
SELECT user_id, {select}
FROM kol_engagement_part0 p0{joins}
LEFT JOIN kols k USING (user_id)
LEFT JOIN (
    SELECT user_id,
           max(finished_at) FILTER (WHERE {FULL_FETCH}) AS last_full_refresh_at,
           max(finished_at) FILTER (WHERE {INCREMENTAL_FETCH}) AS last_incremental_refresh_at
    FROM fetches{where} GROUP BY user_id
) r USING (user_id)
"""
    if only:
        statements += [f"DELETE FROM kol_engagement{where}", f"INSERT INTO kol_engagement BY NAME {rows}"]
    else:
        statements.append(f"CREATE OR REPLACE TABLE kol_engagement AS {rows}")
    statements += [f"DROP TABLE kol_engagement_part{j}" for j in range(len(parts))]
    return statements


# What the columns are computed with: part of the key the rows were built under (engagement_inputs.py).
_COLUMNS_SQL = repr(KOL_ENGAGEMENT_COLUMNS)


def build_kol_engagement(
    conn: duckdb.DuckDBPyConnection,
    as_of: date,
    settings: EngagementSettings,
    median_values: int = MEDIAN_VALUES_PER_STATEMENT,
) -> int:
    """Rebuild the rows of kol_engagement whose inputs changed (every row on another day, with other
    settings or another version of its SQL: engagement_inputs.py); returns how many KOLs were rebuilt."""
    key = inputs.build_key(as_of, settings, _COLUMNS_SQL)
    stale = inputs.stale_kols(conn, key)
    only = None if stale is None else inputs.STALE  # None: every row
    if stale != 0:
        row = conn.execute(f"SELECT count(*) FROM note_engagement{inputs.of_kols_in(only)}").fetchone()
        params = {
            "as_of": as_of,
            "viral_low": settings.viral_low_likes,
            "viral_high": settings.viral_high_likes,
        }
        for sql in kol_engagement_statements(int(row[0]) if row else 0, median_values, only=only):
            conn.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
    if only is None:
        _apply_comments(conn, "kol_engagement", KOL_ENGAGEMENT_COMMENTS)
    return inputs.record(conn, key, only_stale=only is not None)


class EngagementRows(NamedTuple):
    kols: int  # rows of kol_engagement: the KOLs with a live note
    rebuilt: int  # of them rebuilt by this run (with the rows removed), the others' inputs unchanged


def refresh_kol_engagement(
    conn: duckdb.DuckDBPyConnection, as_of: date, settings: EngagementSettings | None = None
) -> EngagementRows:
    """Rebuild kol_engagement where its inputs changed, then the figures built on it (figures.py):
    costs, percentiles, lifecycle and flags."""
    s = settings or EngagementSettings()
    rebuilt = build_kol_engagement(conn, as_of, s)
    refresh_figures(conn, as_of, s)
    row = conn.execute("SELECT count(*) FROM kol_engagement").fetchone()
    return EngagementRows(int(row[0]) if row else 0, rebuilt)
