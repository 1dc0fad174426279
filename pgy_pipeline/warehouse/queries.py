"""Every read query the Dagster layer and the command line run, by name.

The tables and views analysts use are defined in ``sql/``; these are the pipeline's own
questions of them (asset checks, metadata previews, summaries), kept here so that SQL
has one home and a reader finds each question by its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

import duckdb

if TYPE_CHECKING:  # DuckDB's .df() imports pandas when a query needs it
    import pandas as pd

from pgy_pipeline.warehouse.gone import COUNTS_FOR_GONE, FETCH_SCOPE
from pgy_pipeline.warehouse.history import FULL_FETCH, INCREMENTAL_FETCH


class RunFigures(NamedTuple):
    kols_complete: int
    kols_not_complete: int
    pages: int
    calls: int
    notes: int
    calls_billed: int  # what the vendor bills of ``calls`` (codes 0 and 201)


def run_figures(conn: duckdb.DuckDBPyConnection, run_ids: Sequence[str]) -> RunFigures:
    """What these runs' fetches bought and stored; calls from the spend ledger (every attempt)."""
    row = conn.execute(
        """
        SELECT count(*) FILTER (WHERE status = 'complete'), count(*) FILTER (WHERE status <> 'complete'),
               coalesce(sum(pages), 0),
               (SELECT count(*) FROM api_calls WHERE run_id IN (SELECT unnest($ids::VARCHAR[]))),
               coalesce(sum(notes_returned), 0),
               (SELECT count(*) FILTER (WHERE billed) FROM api_calls
                WHERE run_id IN (SELECT unnest($ids::VARCHAR[])))
        FROM fetches WHERE run_id IN (SELECT unnest($ids::VARCHAR[]))
        """,
        {"ids": list(run_ids)},
    ).fetchone()
    return RunFigures(*(int(v) for v in row)) if row else RunFigures(0, 0, 0, 0, 0, 0)


def warehouse_totals(conn: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(API calls in the ledger, notes stored)."""
    row = conn.execute("SELECT (SELECT count(*) FROM api_calls), (SELECT count(*) FROM notes)").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def top_kols_summary(conn: duckdb.DuckDBPyConnection, min_notes: int = 10, limit: int = 10) -> pd.DataFrame:
    """The best KOLs by like_collect rate, with figures a person reads at a glance."""
    return conn.execute(
        """
        SELECT coalesce(label, user_id) AS kol, notes, CAST(reads_median AS BIGINT) AS median_reads,
               round(100 * like_collect_rate_pooled, 2) AS "like+collect %",
               round(100 * viral_high_rate, 1) AS "1k-like notes %"
        FROM kol_engagement WHERE notes >= $min_notes
        ORDER BY like_collect_rate_pooled DESC NULLS LAST LIMIT $limit
        """,
        {"min_notes": min_notes, "limit": limit},
    ).df()


def exportable_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND table_name <> 'schema_version' "
        "ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def row_count(conn: duckdb.DuckDBPyConnection, relation: str) -> int:
    """Rows of a table or view of the warehouse (``relation`` is one of our own names, never input)."""
    row = conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
    return int(row[0]) if row else 0


# -- engagement previews ------------------------------------------------------------------------


def top_notes_by_rate(
    conn: duckdb.DuckDBPyConnection, min_reads: int = 1000, limit: int = 10
) -> pd.DataFrame:
    return conn.execute(
        """
        SELECT user_id, note_id, publish_date, read_num, like_collect, round(like_collect_rate, 4) AS rate
        FROM note_engagement WHERE read_num >= $min_reads
        ORDER BY like_collect_rate DESC NULLS LAST LIMIT $limit
        """,
        {"min_reads": min_reads, "limit": limit},
    ).df()


def top_kols_by_rate(conn: duckdb.DuckDBPyConnection, limit: int = 10) -> pd.DataFrame:
    return conn.execute(
        """
        SELECT user_id, label, notes, reads_median, round(like_collect_rate_pooled, 4) AS lc_rate,
               round(viral_high_rate, 3) AS viral_high_rate
        FROM kol_engagement ORDER BY like_collect_rate_pooled DESC NULLS LAST LIMIT $limit
        """,
        {"limit": limit},
    ).df()


def kol_rates_for_chart(
    conn: duckdb.DuckDBPyConnection, min_notes: int = 10, limit: int = 15
) -> list[tuple[str, float]]:
    rows = conn.execute(
        """
        SELECT coalesce(label, user_id) AS kol, like_collect_rate_pooled AS rate
        FROM kol_engagement WHERE notes >= $min_notes AND like_collect_rate_pooled IS NOT NULL
        ORDER BY rate DESC LIMIT $limit
        """,
        {"min_notes": min_notes, "limit": limit},
    ).fetchall()
    return [(str(r[0]), float(r[1])) for r in rows]


# -- data checks ---------------------------------------------------------------------------------


def duplicate_note_keys(conn: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    return conn.execute(
        "SELECT user_id, note_id, count(*) AS n FROM notes GROUP BY ALL HAVING n > 1 LIMIT $limit",
        {"limit": limit},
    ).df()


_NEGATIVE = "read_num < 0 OR like_num < 0 OR collect_num < 0 OR third_read_user_num < 0"


def negative_metric_rows(conn: duckdb.DuckDBPyConnection, limit: int = 20) -> tuple[int, pd.DataFrame]:
    """(how many notes have a negative metric, examples)."""
    examples = conn.execute(
        "SELECT user_id, note_id, read_num, like_num, collect_num, third_read_user_num FROM notes "
        f"WHERE {_NEGATIVE} LIMIT $limit",
        {"limit": limit},
    ).df()
    row = conn.execute(f"SELECT count(*) FROM notes WHERE {_NEGATIVE}").fetchone()
    return (int(row[0]) if row else 0), examples


def kols_off_reported_total(conn: duckdb.DuckDBPyConnection, slack: int) -> tuple[int, pd.DataFrame]:
    """(KOLs checked, KOLs whose notes seen by their latest complete full fetch lie outside its totals).

    Counted are the live default-scope notes that fetch saw. Not every live note: a deleted
    note stays live until a second fetch confirms it (the gone rule), and counting it would
    raise a false alarm in between. A note the fetch saw but marked gone is counted out.
    """
    off = conn.execute(
        f"""
        WITH latest AS (
            SELECT * FROM fetches WHERE {FULL_FETCH}
            QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY finished_at DESC) = 1
        ), stored AS (
            SELECT n.user_id, count(*) AS live FROM notes n JOIN latest l USING (user_id)
            WHERE n.scope = 'default' AND n.gone_at IS NULL AND n.last_seen_at >= l.started_at
            GROUP BY n.user_id
        )
        SELECT l.user_id, coalesce(s.live, 0) AS live_notes, l.reported_total_min, l.reported_total
        FROM latest l LEFT JOIN stored s USING (user_id)
        WHERE coalesce(s.live, 0) < l.reported_total_min - $slack
           OR coalesce(s.live, 0) > l.reported_total + $slack
        """,
        {"slack": slack},
    ).df()
    row = conn.execute(f"SELECT count(DISTINCT user_id) FROM fetches WHERE {FULL_FETCH}").fetchone()
    return (int(row[0]) if row else 0), off


def _listing_returns_sql(since: str, min_misses: int, for_users: bool) -> str:
    """Notes a KOL's counting fetches (see gone.py) left out ``min_misses`` or more times in a row
    and a later fetch, starting at or after ``since`` (an SQL expression), listed again.

    Read from the sightings since ``since`` only, not from every note's whole history (a year of
    daily fetches of 1,000 KOLs, 46 million snapshots: 47.8 s for a window over all of them, 1.5 s
    so, 0.9 s once the counting fetch before is looked up per fetch, not per sighting;
    bench/checks_bench.py): a sighting can end ``min_misses`` misses only if the latest counting
    fetch of its scope before it did not list the note (``missed``); for those few, the sighting
    before is looked up, and the misses are counted as the counting fetches between the two (the
    k-th latest before the return is after the sighting before it).
    pgy_pipeline_tests/warehouse/test_listing_returns.py holds the plain window query this one must equal.
    """
    users = "AND s.user_id IN (SELECT unnest($users::VARCHAR[]))" if for_users else ""
    return f"""
        WITH counting AS (
            SELECT fetch_id, user_id, {FETCH_SCOPE} AS scope, started_at,
                   lag(started_at, {int(min_misses) - 1})
                       OVER (PARTITION BY user_id, {FETCH_SCOPE} ORDER BY started_at) AS kth_back
            FROM fetches WHERE {COUNTS_FOR_GONE}
        ), previous AS (  -- per fetch since ``since`` and scope of its notes: the counting fetch before
            SELECT f.fetch_id, sc.scope, f.started_at, c.fetch_id AS previous_fetch, c.kth_back
            FROM fetches f CROSS JOIN (VALUES ('default'), ('third_platform')) AS sc(scope)
            ASOF JOIN counting c ON c.user_id = f.user_id AND c.scope = sc.scope AND f.started_at > c.started_at
            WHERE f.started_at >= {since} AND c.kth_back IS NOT NULL
        ), recent AS (
            SELECT s.user_id, s.note_id, p.started_at, p.previous_fetch, p.kth_back
            FROM note_snapshots s
            JOIN previous p ON p.fetch_id = s.fetch_id
            JOIN notes n ON n.user_id = s.user_id AND n.note_id = s.note_id AND n.scope = p.scope
            WHERE true {users}
        ), listed_by_previous AS (
            SELECT fetch_id, note_id FROM note_snapshots
            WHERE fetch_id IN (SELECT DISTINCT previous_fetch FROM recent)
        ), missed AS (
            SELECT r.* FROM recent r
            LEFT JOIN listed_by_previous l ON l.fetch_id = r.previous_fetch AND l.note_id = r.note_id
            WHERE l.note_id IS NULL
        ), judged AS (
            SELECT m.user_id, m.note_id, m.started_at, m.kth_back, max(f.started_at) AS seen_before
            FROM missed m
            JOIN note_snapshots s ON s.user_id = m.user_id AND s.note_id = m.note_id
            JOIN fetches f ON f.fetch_id = s.fetch_id AND f.started_at < m.started_at
            GROUP BY ALL
        )
        SELECT user_id, count(DISTINCT note_id) AS notes_returned, max(started_at) AS last_returned_at
        FROM judged WHERE seen_before < kth_back
        GROUP BY user_id ORDER BY notes_returned DESC, user_id
    """


def kols_with_reversed_gone_marks(
    conn: duckdb.DuckDBPyConnection, window: timedelta
) -> tuple[int, pd.DataFrame]:
    """(notes, per KOL) the gone rule marked gone and the API listed again, in the last ``window``.

    A note absent from two consecutive counting fetches of its scope (see gone.py) was marked
    gone; seen again by a later fetch, the mark was cleared. Each such return means the
    evidence was wrong: the API left a live note out of two complete listings. ``window``
    runs back from the newest fetch (so a simulated day reads like a real one).
    """
    since = "(SELECT max(started_at) FROM fetches) - $window"
    found = conn.execute(_listing_returns_sql(since, 2, False), {"window": window}).df()
    return int(found["notes_returned"].sum()) if len(found) else 0, found


def listing_glitches(
    conn: duckdb.DuckDBPyConnection, user_ids: Sequence[str], since: datetime
) -> dict[str, tuple[int, int]]:
    """Per KOL: (notes a complete listing left out and a later fetch listed again, notes marked
    gone and not listed since), both since ``since``: how often a missing note was a glitch of
    the listing rather than a deletion. KOLs with neither are left out."""
    if not user_ids:
        return {}
    params = {"users": list(user_ids), "since": since}
    rows = conn.execute(_listing_returns_sql("$since", 1, True), params).fetchall()
    returned = {u: int(n) for u, n, _ in rows}
    gone = dict(
        conn.execute(
            "SELECT user_id, count(*) FROM notes WHERE gone_at >= $since "
            "AND user_id IN (SELECT unnest($users::VARCHAR[])) GROUP BY user_id",
            params,
        ).fetchall()
    )
    return {u: (returned.get(u, 0), int(gone.get(u, 0))) for u in set(returned) | set(gone)}


def kols_complete_within(conn: duckdb.DuckDBPyConnection, window: timedelta) -> set[str]:
    """KOLs with a complete fetch, or an incremental one (refresh/modes.py), that finished within
    ``window`` of now: on the days between its full refreshes a KOL is refreshed incrementally."""
    rows = conn.execute(
        f"SELECT DISTINCT user_id FROM fetches WHERE (status = 'complete' OR ({INCREMENTAL_FETCH})) "
        "AND finished_at >= now() - $window",
        {"window": window},
    ).fetchall()
    return {r[0] for r in rows}


class RosterFreshness(NamedTuple):
    kols: int  # on the roster (removed KOLs left out)
    refreshed_within: int  # with a complete (or incremental) fetch within the window
    never: int  # never refreshed completely
    oldest: datetime | None  # the stalest KOL's last complete fetch, among those that have one


def roster_freshness(conn: duckdb.DuckDBPyConnection, since: datetime) -> RosterFreshness:
    """How fresh the roster's data is: what `pgy status` says of the warehouse."""
    row = conn.execute(
        f"""
        WITH last AS (
            SELECT k.user_id, max(f.finished_at) AS finished_at
            FROM kols k
            LEFT JOIN fetches f ON f.user_id = k.user_id AND (f.status = 'complete' OR ({INCREMENTAL_FETCH}))
            WHERE k.removed_at IS NULL
            GROUP BY k.user_id
        )
        SELECT count(*), count(*) FILTER (WHERE finished_at >= $since),
               count(*) FILTER (WHERE finished_at IS NULL), min(finished_at)
        FROM last
        """,
        {"since": since},
    ).fetchone()
    assert row is not None
    return RosterFreshness(row[0], row[1], row[2], row[3])


# -- the buyer's questions ---------------------------------------------------------------------------


def brand_kols(conn: duckdb.DuckDBPyConnection, brand: str, since: date) -> pd.DataFrame:
    """KOLs with live cooperation notes of ``brand`` (case and outer spaces ignored) published on or
    after ``since``: how many, when, and how they did against the KOL's organic notes."""
    return conn.execute(
        """
        WITH organic AS (
            SELECT user_id, median(read_num) AS organic_reads_median
            FROM note_engagement WHERE NOT is_cooperation GROUP BY user_id
        )
        SELECT e.user_id, k.label, k.category, any_value(n.brand_name) AS brand, count(*) AS notes,
               min(e.publish_date) AS first_date, max(e.publish_date) AS last_date,
               median(e.read_num) AS reads_median, any_value(o.organic_reads_median) AS organic_reads_median,
               round(median(e.read_num) / nullif(any_value(o.organic_reads_median), 0), 2) AS reads_vs_organic
        FROM note_engagement e
        JOIN notes n USING (user_id, note_id)
        LEFT JOIN kols k USING (user_id)
        LEFT JOIN organic o USING (user_id)
        WHERE e.is_cooperation AND lower(trim(n.brand_name)) = lower(trim($brand)) AND e.publish_date >= $since
        GROUP BY e.user_id, k.label, k.category
        ORDER BY last_date DESC, e.user_id
        """,
        {"brand": brand, "since": since},
    ).df()


def rising_notes_preview(conn: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    return conn.execute(
        """
        SELECT coalesce(label, user_id) AS kol, note_id, publish_date, day, read_num,
               kol_reads_median_at_day, round(reads_beats_share, 2) AS beats_share
        FROM rising_notes ORDER BY reads_beats_share DESC, read_num DESC LIMIT $limit
        """,
        {"limit": limit},
    ).df()


def flags_preview(conn: duckdb.DuckDBPyConnection, limit: int = 20) -> pd.DataFrame:
    return conn.execute(
        "SELECT coalesce(label, user_id) AS kol, flag, reason FROM kol_flags ORDER BY user_id, flag LIMIT $limit",
        {"limit": limit},
    ).df()
