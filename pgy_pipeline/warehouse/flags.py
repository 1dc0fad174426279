"""Does it look real? Plausibility flags per KOL, each with its reason and the figures behind it.

Flags inform a buyer; they never change a figure. Each compares like with like and needs
``flag_min_notes`` notes on each side, so a KOL with a handful of notes raises none:

- ``rate_vs_history``: the like_collect rate of the last 30 days against the KOL's own rate
  over the 335 days before, ``flag_rate_factor`` times higher or lower;
- ``rate_vs_category``: the KOL's 90-day rate against the median of its category's KOLs
  (categories of at least ``peer_min_kols`` KOLs), as far off;
- ``reads_without_like_collect``: in the last 30 days, a note gained ``flag_jump_reads`` reads
  or more between snapshots while its likes + collects did not move (bought reads look so);
- ``cadence_change``: notes per week of the last 30 days against the 90 days before,
  ``flag_cadence_factor`` times more or fewer (a dormant account revived, or one gone quiet).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import duckdb

from pgy_pipeline.warehouse.comments import apply_comments
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline.warehouse.lifecycle import SHANGHAI

_POOLED = (
    "sum(like_collect) FILTER (WHERE {w} AND read_num > 0) "
    "/ nullif(sum(read_num) FILTER (WHERE {w} AND like_collect IS NOT NULL), 0)"
)
_RATE_NOTES = "count(*) FILTER (WHERE {w} AND read_num > 0 AND like_collect IS NOT NULL)"
RECENT = "publish_date > CAST($as_of AS DATE) - 30"
HISTORY = "publish_date <= CAST($as_of AS DATE) - 30 AND publish_date > CAST($as_of AS DATE) - 365"
PRIOR = "publish_date <= CAST($as_of AS DATE) - 30 AND publish_date > CAST($as_of AS DATE) - 120"

KOL_FLAGS_SQL = f"""
CREATE OR REPLACE TABLE kol_flags AS
WITH own AS (
    SELECT user_id,
           {_POOLED.format(w=RECENT)} AS recent_rate, {_RATE_NOTES.format(w=RECENT)} AS recent_notes,
           {_POOLED.format(w=HISTORY)} AS history_rate, {_RATE_NOTES.format(w=HISTORY)} AS history_notes,
           count(*) FILTER (WHERE {RECENT}) AS notes_30d, count(*) FILTER (WHERE {PRIOR}) AS notes_prior_90d
    FROM note_engagement GROUP BY user_id
), by_category AS (
    SELECT e.user_id, k.category, e.like_collect_rate_pooled_90d AS rate,
           median(e.like_collect_rate_pooled_90d) OVER (PARTITION BY k.category) AS category_median,
           count(e.like_collect_rate_pooled_90d) OVER (PARTITION BY k.category) AS category_kols,
           e.notes_90d
    FROM kol_engagement e JOIN kols k USING (user_id)
    WHERE k.category IS NOT NULL AND e.like_collect_rate_pooled_90d IS NOT NULL
), jumps AS (
    -- A stretch of snapshots of a note over which likes + collects stayed the same: the reads it
    -- gained meanwhile came with no like or collect. A group per (note, like_collect value), not
    -- a window over a month of snapshots.
    SELECT user_id, count(*) AS jumps, max(reads_gained) AS largest
    FROM (
        SELECT user_id, max(read_num) - min(read_num) AS reads_gained
        FROM note_snapshots
        WHERE scope = 'default' AND fetched_at >= $since AND like_num IS NOT NULL AND collect_num IS NOT NULL
        GROUP BY user_id, note_id, like_num + collect_num
    )
    WHERE reads_gained >= $jump
    GROUP BY user_id
), flags AS (
    SELECT user_id, 'rate_vs_history' AS flag, recent_rate AS value, history_rate AS reference,
           printf('like_collect rate of the last 30 days %.2f%% (%d notes) is %.1fx its own rate over '
                  'the 335 days before, %.2f%% (%d notes)', 100 * recent_rate, recent_notes,
                  recent_rate / history_rate, 100 * history_rate, history_notes) AS reason
    FROM own
    WHERE recent_notes >= $min_notes AND history_notes >= $min_notes AND history_rate > 0
      AND (recent_rate >= $rate_factor * history_rate OR recent_rate * $rate_factor <= history_rate)
    UNION ALL
    SELECT user_id, 'rate_vs_category', rate, category_median,
           printf('like_collect rate of the last 90 days %.2f%% is %.1fx the median of the %d KOLs of '
                  'category %s, %.2f%%', 100 * rate, rate / category_median, category_kols, category,
                  100 * category_median)
    FROM by_category
    WHERE category_kols >= $peer_min AND notes_90d >= $min_notes AND category_median > 0
      AND (rate >= $rate_factor * category_median OR rate * $rate_factor <= category_median)
    UNION ALL
    SELECT user_id, 'reads_without_like_collect', jumps, largest,
           printf('%d time(s) in the last 30 days a note gained %d or more reads between snapshots while '
                  'its likes + collects did not move (largest: %d reads)', jumps, $jump, largest)
    FROM jumps
    UNION ALL
    SELECT user_id, 'cadence_change', notes_30d * 7 / 30.0, notes_prior_90d * 7 / 90.0,
           printf('%.2f notes per week in the last 30 days (%d notes) against %.2f in the 90 days before '
                  '(%d notes)', notes_30d * 7 / 30.0, notes_30d, notes_prior_90d * 7 / 90.0, notes_prior_90d)
    FROM own
    WHERE greatest(notes_30d, notes_prior_90d) >= $min_notes
      AND (notes_30d / 30.0 >= $cadence_factor * notes_prior_90d / 90.0
           OR notes_30d / 30.0 * $cadence_factor <= notes_prior_90d / 90.0)
)
SELECT f.user_id, k.label, k.category, f.flag, f.reason, f.value, f.reference, CAST($as_of AS DATE) AS as_of_date
FROM flags f LEFT JOIN kols k USING (user_id)
ORDER BY f.user_id, f.flag
"""

KOL_FLAGS_COMMENTS = {
    "": "Does it look real? One row per raised flag: its reason in words and the figures behind it. Flags "
    "inform; they never change a figure. Flags: rate_vs_history, rate_vs_category, "
    "reads_without_like_collect, cadence_change (see each row's reason; thresholds are settings). "
    "like_collect leaves out comments and shares, which the endpoint does not give.",
    "user_id": "Xiaohongshu user id of the KOL.",
    "label": "Roster label of the KOL.",
    "category": "Roster category of the KOL.",
    "flag": "rate_vs_history (30-day like_collect rate against the KOL's 335 days before), rate_vs_category "
    "(90-day rate against its category's median), reads_without_like_collect (a note gaining "
    "flag_jump_reads reads or more over snapshots of the last 30 days while its likes + collects stayed "
    "the same), cadence_change (notes per week, last 30 days against the 90 days before).",
    "reason": "The flag in words, with its figures.",
    "value": "The KOL's figure: the recent rate, its 90-day rate, the number of such stretches of reads, or "
    "the recent notes per week.",
    "reference": "What it was compared with: the history rate, the category median, the largest jump in "
    "reads, or the earlier notes per week.",
    "as_of_date": "Date (Asia/Shanghai) the table was computed.",
}


def refresh_flags(conn: duckdb.DuckDBPyConnection, as_of: date, s: EngagementSettings) -> None:
    conn.execute(
        KOL_FLAGS_SQL,
        {
            "as_of": as_of,
            # An aware instant, so the scan of note_snapshots compares instants, not converted rows.
            "since": datetime.combine(as_of - timedelta(days=31), time(), tzinfo=SHANGHAI),
            "min_notes": s.flag_min_notes,
            "rate_factor": s.flag_rate_factor,
            "peer_min": s.peer_min_kols,
            "jump": s.flag_jump_reads,
            "cadence_factor": s.flag_cadence_factor,
        },
    )
    apply_comments(conn, "kol_flags", KOL_FLAGS_COMMENTS)
