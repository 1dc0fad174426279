"""The figures buyers choose KOLs on, built in SQL after ``kol_engagement`` in the engagement run.

- ``kol_costs``: the analyst's current prices against the 30/90-day medians of the matching
  note kind: cost per 1,000 reads and per like_collect. Not CPM or CPE: the endpoint has no
  impressions, comments or shares. A KOL without a price has no row (never a cost of 0).
- ``kol_percentiles``: for each headline figure, the share of the other KOLs it beats, in its
  category (from the roster) and in the whole roster (the panel's 超越同行).
- ``note_lifecycle`` / ``kol_lifecycle`` and rising notes: lifecycle.py.
- ``kol_flags``: plausibility flags, flags.py. Flags inform; they never change a figure.

Tables rather than views: they take the run's settings and its as_of day, like kol_engagement.
"""

from __future__ import annotations

from datetime import date

import duckdb

from pgy_pipeline.warehouse import flags, lifecycle
from pgy_pipeline.warehouse.comments import apply_comments
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings

# A price buys one kind of note: a photo_note price is set against photo notes' medians, a
# video_note price against video notes'; any other price type against all live notes.
_KIND = (
    "CASE WHEN p.price_type ILIKE '%video%' THEN 'video' "
    "WHEN p.price_type ILIKE '%photo%' THEN 'photo' ELSE 'all' END"
)


def _costs_sql() -> str:
    medians = []
    costs = []
    for w in ("30d", "90d"):
        for figure in ("reads_median", "like_collect_median"):
            col = f"{figure}_{w}"
            medians.append(
                f"CASE note_kind WHEN 'video' THEN e.video_{col} WHEN 'photo' THEN e.photo_{col} ELSE e.{col} END AS {col}"
            )
        costs += [
            f"price_value * 1000 / nullif(reads_median_{w}, 0) AS cost_per_1k_reads_{w}",
            f"price_value / nullif(like_collect_median_{w}, 0) AS cost_per_like_collect_{w}",
        ]
    return f"""
CREATE OR REPLACE TABLE kol_costs AS
WITH current_prices AS (
    SELECT p.*, {_KIND} AS note_kind
    FROM kol_prices p
    WHERE p.valid_from <= $as_of AND (p.valid_to IS NULL OR p.valid_to >= $as_of)
    QUALIFY row_number() OVER (PARTITION BY p.user_id, p.price_type ORDER BY p.valid_from DESC, p.price) = 1
), joined AS (
    SELECT p.user_id, k.label, k.category, p.price_type, p.note_kind, p.price, p.currency,
           CAST(p.price AS DOUBLE) AS price_value, p.valid_from,
           CAST($as_of AS DATE) - p.valid_from AS price_age_days,
           CAST($as_of AS DATE) - p.valid_from > $stale AS price_stale,
           {", ".join(medians)}
    FROM current_prices p
    LEFT JOIN kol_engagement e USING (user_id)
    LEFT JOIN kols k USING (user_id)
)
SELECT * EXCLUDE (price_value), {", ".join(costs)}, CAST($as_of AS DATE) AS as_of_date
FROM joined
ORDER BY user_id, price_type
"""


KOL_COSTS_SQL = _costs_sql()

COSTS_COMMENTS = {
    "": "Cost of a KOL's reads and likes + collects at the analyst's current price (kol_prices valid on "
    "as_of_date; the latest valid_from per price type): one row per KOL and price type. A KOL without a "
    "price has no row, never a cost of 0. Cost per 1,000 reads is NOT CPM (the endpoint has no "
    "impressions) and cost per like_collect is NOT CPE (no comments or shares).",
    "user_id": "Xiaohongshu user id of the KOL.",
    "label": "Roster label of the KOL.",
    "category": "Roster category of the KOL.",
    "price_type": "What the price buys (kol_prices.price_type), e.g. photo_note or video_note.",
    "note_kind": "Notes whose medians the price is set against: photo (price_type contains 'photo'), "
    "video (contains 'video'), or all live notes for any other price type.",
    "price": "Price per note of that type (kol_prices.price).",
    "currency": "Currency of the price.",
    "valid_from": "First day the price applies.",
    "price_age_days": "Days from valid_from to as_of_date.",
    "price_stale": "TRUE when price_age_days exceeds the price_stale_days setting: ask for a new quote.",
    "reads_median_30d": "Median reads of the KOL's note_kind notes of the last 30 days.",
    "like_collect_median_30d": "Median likes + collects of the KOL's note_kind notes of the last 30 days.",
    "reads_median_90d": "Median reads of the KOL's note_kind notes of the last 90 days.",
    "like_collect_median_90d": "Median likes + collects of the KOL's note_kind notes of the last 90 days.",
    "cost_per_1k_reads_30d": "price * 1,000 / reads_median_30d: what 1,000 reads of a typical note cost. "
    "Not CPM (reads, not impressions). NULL without such notes or with a median of 0.",
    "cost_per_like_collect_30d": "price / like_collect_median_30d: what one like or collect of a typical "
    "note costs. Not CPE (no comments or shares). NULL without such notes or with a median of 0.",
    "cost_per_1k_reads_90d": "As cost_per_1k_reads_30d, over the last 90 days.",
    "cost_per_like_collect_90d": "As cost_per_like_collect_30d, over the last 90 days.",
    "as_of_date": "Date (Asia/Shanghai) the table was computed: prices valid then, windows ending then.",
}

# (figure, source, True when a higher value is better): the headline figures of the panel.
HEADLINE_FIGURES = (
    ("reads_median_90d", "kol_engagement", True),
    ("like_collect_median_90d", "kol_engagement", True),
    ("like_collect_rate_pooled_90d", "kol_engagement", True),
    ("viral_low_rate_90d", "kol_engagement", True),
    ("viral_high_rate_90d", "kol_engagement", True),
    ("collect_like_ratio_90d", "kol_engagement", True),
    ("notes_per_week_90d", "kol_engagement", True),
    ("cost_per_1k_reads_90d", "kol_costs", False),
    ("cost_per_like_collect_90d", "kol_costs", False),
)


def _percentiles_sql() -> str:
    values = []
    for figure, source, higher in HEADLINE_FIGURES:
        price_type = "price_type" if source == "kol_costs" else "CAST(NULL AS VARCHAR)"
        values.append(
            f"SELECT user_id, '{figure}' AS figure, {price_type} AS price_type, "
            f"CAST({figure} AS DOUBLE) AS value, {str(higher).upper()} AS higher_is_better "
            f"FROM {source} WHERE {figure} IS NOT NULL"
        )
    # rank() - 1 over the worse-first order counts the KOLs strictly beaten: a tie beats nobody.
    worse_first = "ORDER BY CASE WHEN higher_is_better THEN value ELSE -value END"
    return f"""
CREATE OR REPLACE TABLE kol_percentiles AS
WITH v AS (
    {" UNION ALL ".join(values)}
), r AS (
    SELECT v.*, k.label, k.category,
           count(*) OVER roster AS roster_kols,
           rank() OVER (roster {worse_first}) - 1 AS roster_beaten,
           count(*) OVER cat AS category_kols,
           rank() OVER (cat {worse_first}) - 1 AS category_beaten
    FROM v LEFT JOIN kols k USING (user_id)
    WINDOW roster AS (PARTITION BY figure, price_type),
           cat AS (PARTITION BY figure, price_type, k.category)
)
SELECT user_id, label, category, figure, price_type, value, higher_is_better, roster_kols,
       roster_beaten / nullif(roster_kols - 1, 0) AS roster_percentile,
       CASE WHEN category IS NOT NULL THEN category_kols END AS category_kols,
       CASE WHEN category IS NOT NULL AND category_kols >= $peer_min
            THEN category_beaten / nullif(category_kols - 1, 0) END AS category_percentile,
       CASE WHEN category IS NULL THEN 'no category on the roster'
            WHEN category_kols < $peer_min
            THEN printf('only %d KOLs of this category have this figure (fewer than %d)', category_kols, $peer_min)
       END AS category_note,
       CAST($as_of AS DATE) AS as_of_date
FROM r
ORDER BY user_id, figure, price_type
"""


KOL_PERCENTILES_SQL = _percentiles_sql()

PERCENTILES_COMMENTS = {
    "": "超越同行: for each headline figure of each KOL, the share of the other KOLs it beats, within its "
    "roster category and within the whole roster. One row per KOL, figure (and price type for costs) "
    "with a value; a KOL without the figure (no price, no notes in the window) has no row and is no peer.",
    "user_id": "Xiaohongshu user id of the KOL.",
    "label": "Roster label of the KOL.",
    "category": "Roster category of the KOL (NULL: none given).",
    "figure": "Column of kol_engagement or kol_costs: reads_median_90d, like_collect_median_90d, "
    "like_collect_rate_pooled_90d, viral_low_rate_90d, viral_high_rate_90d, collect_like_ratio_90d, "
    "notes_per_week_90d, cost_per_1k_reads_90d, cost_per_like_collect_90d.",
    "price_type": "For a cost figure, the price type it is computed from (peers share it); else NULL.",
    "value": "The KOL's value of the figure.",
    "higher_is_better": "TRUE when a higher value beats a lower one; FALSE for costs (cheaper beats dearer).",
    "roster_kols": "KOLs of the whole roster with a value of this figure (the KOL included).",
    "roster_percentile": "Share of the other KOLs of the roster with a value that this KOL beats, 0 to 1; "
    "an equal value is not beaten. NULL when the KOL is alone.",
    "category_kols": "KOLs of the same category with a value of this figure (the KOL included).",
    "category_percentile": "As roster_percentile, among the KOLs of the same category; NULL when the "
    "category has fewer than peer_min_kols such KOLs, or the KOL has none (see category_note).",
    "category_note": "Why category_percentile is missing (no category, or too few peers); NULL when shown.",
    "as_of_date": "Date (Asia/Shanghai) the table was computed.",
}


def refresh_figures(conn: duckdb.DuckDBPyConnection, as_of: date, s: EngagementSettings) -> None:
    """Rebuild every figure table from kol_engagement, kol_prices, kols and note_snapshots."""
    conn.execute(KOL_COSTS_SQL, {"as_of": as_of, "stale": s.price_stale_days})
    apply_comments(conn, "kol_costs", COSTS_COMMENTS)
    conn.execute(KOL_PERCENTILES_SQL, {"as_of": as_of, "peer_min": s.peer_min_kols})
    apply_comments(conn, "kol_percentiles", PERCENTILES_COMMENTS)
    lifecycle.refresh_lifecycle(conn, as_of, s)
    flags.refresh_flags(conn, as_of, s)
