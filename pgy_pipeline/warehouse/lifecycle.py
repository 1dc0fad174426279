"""Note lifecycle: each note's reads and like_collect on day 1, 3, 7, 14 and 30 after publishing,
from ``note_snapshots``; each KOL's typical curve; and the notes that are taking off (rising).

A note's day-N point is the snapshot whose day (Asia/Shanghai) is nearest to publish_date + N,
within ``lifecycle_tolerance_days``; without one the point is missing, never interpolated.
Only snapshots of the default listing of live notes count (as in note_engagement).

A point no longer changes once its note is older than 30 + tolerance days, so each run keeps the
previous run's points of such notes and reads only the last weeks of snapshots: a year of daily
snapshots of 1,000 KOLs is read once, by the first run (bench/figures_bench.py measures both).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import duckdb

from pgy_pipeline.warehouse.comments import apply_comments
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline.warehouse.lake_schema import views_for

DAYS = (1, 3, 7, 14, 30)
SHANGHAI = timezone(timedelta(hours=8))  # Asia/Shanghai: UTC+8, no daylight saving since 1991

# A point is final once its note's window (publish day to day 30 + tolerance) closed: a run
# keeps the points of the previous run for notes whose window closed this many days before it
# (room for pages of an interrupted fetch, stored up to a day later with their own times), and
# reads only the snapshots of the other notes, which are recent: a month of history, not a year.
SETTLED_MARGIN_DAYS = 3


def _points_sql(reuse: bool) -> str:
    """The day points of live notes into ``_lifecycle_points``: kept from the previous table
    (``reuse``) for notes published on or before $reuse_until, computed for the others from
    snapshots fetched since $scan_from."""
    kept = """
    UNION ALL
    SELECT o.user_id, o.note_id, o.publish_date, o.day, o.snapshot_age_days, o.snapshot_at, o.read_num,
           o.like_collect
    FROM note_lifecycle o JOIN live l USING (user_id, note_id, publish_date)
    WHERE o.publish_date <= $reuse_until"""
    return f"""
CREATE OR REPLACE TEMP TABLE _lifecycle_points AS
WITH live AS (
    SELECT user_id, note_id, publish_date, publish_date - DATE '1970-01-01' AS publish_day
    FROM note_engagement WHERE publish_date IS NOT NULL
), snaps AS (
    -- Asia/Shanghai has been UTC+8 without daylight saving since 1991: the day of a snapshot
    -- there is arithmetic on its instant, not a time zone lookup per row of a year of snapshots.
    -- The join is on the keys alone; the age filter follows (a range in the join costs more).
    SELECT * FROM (
        SELECT s.user_id, s.note_id, l.publish_date, s.fetched_at, epoch_us(s.fetched_at) AS at_us,
               s.read_num, s.like_num + s.collect_num AS like_collect,
               (epoch_us(s.fetched_at) // 1000000 + 28800) // 86400 - l.publish_day AS age_days
        FROM note_snapshots s
        JOIN live l ON s.user_id = l.user_id AND s.note_id = l.note_id
        WHERE s.scope = 'default' AND s.fetched_at >= $scan_from AND l.publish_date > $reuse_until
    )
    WHERE age_days BETWEEN greatest(0, {min(DAYS)} - $tol) AND {max(DAYS)} + $tol
), candidates AS (
    -- One row per day point a snapshot is near enough to, with one number ordering the choice:
    -- nearest first, then the earlier day, then the later snapshot of that day.
    SELECT *, (abs(age_days - day) * 64 + age_days + 1) * 4294967296 + (4294967295 - at_us // 1000000) AS choice
    FROM (SELECT *, unnest(list_filter({list(DAYS)}, d -> abs(d - age_days) <= $tol)) AS day FROM snaps)
)
-- An aggregate per (note, day) rather than a window over every candidate.
SELECT user_id, note_id, any_value(publish_date) AS publish_date, day,
       arg_min(age_days, choice) AS snapshot_age_days, arg_min(fetched_at, choice) AS snapshot_at,
       arg_min(read_num, choice) AS read_num, arg_min(like_collect, choice) AS like_collect
FROM candidates GROUP BY user_id, note_id, day
{kept if reuse else ""}
"""


NOTE_LIFECYCLE_SQL = """
CREATE OR REPLACE TABLE note_lifecycle AS
WITH curves AS (
    -- Each KOL's day-N figures, sorted: a note's rank among them is its first position.
    SELECT user_id, day,
           list_sort(list(read_num) FILTER (WHERE read_num IS NOT NULL)) AS reads_sorted,
           list_sort(list(like_collect) FILTER (WHERE like_collect IS NOT NULL)) AS lc_sorted
    FROM _lifecycle_points GROUP BY user_id, day
), latest AS (
    SELECT user_id, note_id, max(day) AS latest_day FROM _lifecycle_points GROUP BY user_id, note_id
), ranked AS (
    SELECT p.*, len(c.reads_sorted) AS kol_notes_at_day,
           (list_position(c.reads_sorted, p.read_num) - 1) / nullif(len(c.reads_sorted) - 1, 0) AS reads_beats_share,
           (list_position(c.lc_sorted, p.like_collect) - 1) / nullif(len(c.lc_sorted) - 1, 0)
               AS like_collect_beats_share,
           p.day = l.latest_day AS latest_point
    FROM _lifecycle_points p JOIN curves c USING (user_id, day) JOIN latest l USING (user_id, note_id)
)
SELECT user_id, note_id, publish_date, day, snapshot_age_days, snapshot_at,
       read_num, like_collect, kol_notes_at_day, reads_beats_share, like_collect_beats_share, latest_point,
       latest_point AND publish_date > CAST($as_of AS DATE) - 30 AND kol_notes_at_day >= $min_notes
           AND reads_beats_share > 0.5 AS rising,
       CAST($as_of AS DATE) AS as_of_date, CAST($tol AS INTEGER) AS tolerance_days
FROM ranked
ORDER BY user_id, note_id, day
"""

NOTE_LIFECYCLE_COMMENTS = {
    "": "Each live note's reads and likes + collects on day 1, 3, 7, 14 and 30 after publishing: the "
    "snapshot (note_snapshots, default listing) nearest to that day within lifecycle_tolerance_days. A day "
    "with no snapshot that near has no row (missing, never interpolated). like_collect is not the 互动 of "
    "the panel (no comments or shares).",
    "user_id": "Xiaohongshu user id of the KOL.",
    "note_id": "Xiaohongshu note id.",
    "publish_date": "Publish date of the note.",
    "day": "Days after publishing: 1, 3, 7, 14 or 30.",
    "snapshot_age_days": "Days after publishing of the snapshot taken (Asia/Shanghai day of fetched_at).",
    "snapshot_at": "When that snapshot was fetched (UTC).",
    "read_num": "Reads at that snapshot; NULL when unknown.",
    "like_collect": "Likes + collects at that snapshot; NULL when either is unknown.",
    "kol_notes_at_day": "Notes of the KOL with known reads at this day point.",
    "reads_beats_share": "Share of the KOL's other notes at this day point whose reads this note beats "
    "(an equal value is not beaten); NULL when it is alone or its reads are unknown.",
    "like_collect_beats_share": "As reads_beats_share, for likes + collects.",
    "latest_point": "TRUE on the note's latest day point (the oldest day it has reached).",
    "rising": "TRUE when the note is taking off: published in the 30 days up to as_of_date, and at its latest "
    "day point its reads beat those of most of the KOL's notes at the same day (reads_beats_share > 0.5), "
    "with at least rising_min_notes notes to compare.",
    "as_of_date": "Date (Asia/Shanghai) the table was computed.",
    "tolerance_days": "The lifecycle_tolerance_days setting the points were chosen with.",
}

KOL_LIFECYCLE_SQL = """
CREATE OR REPLACE TABLE kol_lifecycle AS
SELECT user_id, day, count(*) AS notes, median(read_num) AS reads_median,
       median(like_collect) AS like_collect_median
FROM note_lifecycle GROUP BY user_id, day ORDER BY user_id, day
"""

KOL_LIFECYCLE_COMMENTS = {
    "": "Each KOL's typical lifecycle curve: the median note's reads and likes + collects on day 1, 3, 7, "
    "14 and 30 after publishing (from note_lifecycle).",
    "user_id": "Xiaohongshu user id of the KOL.",
    "day": "Days after publishing: 1, 3, 7, 14 or 30.",
    "notes": "Notes of the KOL with a point at this day.",
    "reads_median": "Median reads of those notes at this day.",
    "like_collect_median": "Median likes + collects of those notes at this day.",
}


# A view over the tables above, so it is created with them (views.sql runs before they exist).
RISING_NOTES_SQL = """
CREATE OR REPLACE VIEW rising_notes AS
SELECT l.user_id, k.label, l.note_id, n.title, l.publish_date, l.day, l.read_num, l.like_collect,
       l.reads_beats_share, c.reads_median AS kol_reads_median_at_day, l.kol_notes_at_day, l.as_of_date
FROM note_lifecycle l
JOIN notes n USING (user_id, note_id)
LEFT JOIN kols k USING (user_id)
LEFT JOIN kol_lifecycle c USING (user_id, day)
WHERE l.rising;
COMMENT ON VIEW rising_notes IS 'Notes taking off: published in the 30 days up to as_of_date, whose reads at their latest lifecycle day (1, 3, 7, 14 or 30) beat those of most of the KOL''s notes at the same day (note_lifecycle.rising). Computed by the engagement run.';
COMMENT ON COLUMN rising_notes.user_id IS 'Xiaohongshu user id of the KOL.';
COMMENT ON COLUMN rising_notes.label IS 'Roster label of the KOL.';
COMMENT ON COLUMN rising_notes.note_id IS 'Xiaohongshu note id.';
COMMENT ON COLUMN rising_notes.title IS 'Note title as the API sent it.';
COMMENT ON COLUMN rising_notes.publish_date IS 'Publish date of the note.';
COMMENT ON COLUMN rising_notes.day IS 'The note''s latest lifecycle day point.';
COMMENT ON COLUMN rising_notes.read_num IS 'Reads at that day point.';
COMMENT ON COLUMN rising_notes.like_collect IS 'Likes + collects at that day point.';
COMMENT ON COLUMN rising_notes.reads_beats_share IS 'Share of the KOL''s other notes at that day whose reads it beats.';
COMMENT ON COLUMN rising_notes.kol_reads_median_at_day IS 'The KOL''s median reads at that day (kol_lifecycle).';
COMMENT ON COLUMN rising_notes.kol_notes_at_day IS 'Notes of the KOL with reads at that day.';
COMMENT ON COLUMN rising_notes.as_of_date IS 'Date (Asia/Shanghai) the engagement run computed it.';
"""


def _previous_run(conn: duckdb.DuckDBPyConnection) -> tuple[date, int] | None:
    """(as_of_date, tolerance_days) of the note_lifecycle table a previous run left, if any."""
    has = conn.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = 'note_lifecycle' "
        "AND column_name = 'tolerance_days'"
    ).fetchone()
    if not has or not has[0]:
        return None
    row = conn.execute("SELECT max(as_of_date), max(tolerance_days) FROM note_lifecycle").fetchone()
    return (row[0], int(row[1])) if row and row[0] is not None else None


def refresh_lifecycle(conn: duckdb.DuckDBPyConnection, as_of: date, s: EngagementSettings) -> bool:
    """Rebuild note_lifecycle, kol_lifecycle and rising_notes. Returns True when the points of the
    previous run were kept for settled notes, False when every snapshot was read again (first
    run, another tolerance, or a day earlier than the previous run's)."""
    tol = s.lifecycle_tolerance_days
    previous = _previous_run(conn)
    reuse = previous is not None and previous[1] == tol and previous[0] <= as_of
    if previous is not None and reuse:
        reuse_until = previous[0] - timedelta(days=max(DAYS) + 1 + tol + SETTLED_MARGIN_DAYS)
        # Snapshots of the notes published after reuse_until start the day before they were published.
        scan_from = datetime.combine(reuse_until, time(), tzinfo=SHANGHAI)
    else:
        reuse_until, scan_from = date.min, datetime(1970, 1, 1, tzinfo=SHANGHAI)
    conn.execute(_points_sql(reuse), {"reuse_until": reuse_until, "scan_from": scan_from, "tol": tol})
    try:
        conn.execute(NOTE_LIFECYCLE_SQL, {"as_of": as_of, "tol": tol, "min_notes": s.rising_min_notes})
    finally:
        conn.execute("DROP TABLE IF EXISTS _lifecycle_points")
    apply_comments(conn, "note_lifecycle", NOTE_LIFECYCLE_COMMENTS)
    conn.execute(KOL_LIFECYCLE_SQL)
    apply_comments(conn, "kol_lifecycle", KOL_LIFECYCLE_COMMENTS)
    conn.execute(views_for(conn, RISING_NOTES_SQL))  # a lake keeps no COMMENT on a view's columns
    return reuse
