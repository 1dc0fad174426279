"""Shares of null and unreadable values per note field: the latest fetches against the KOLs' own history.

Drift that breaks most of a page stops a fetch (justoneapi/drift.py); a slow drift does not: a field
the vendor starts leaving null on a few notes more each week skews the medians long before any page
breaks. Every fetch keeps the data contract's counts per field (``fetches.field_counts``), so this
compares, per field, the share of bad values in each KOL's latest fetch with what that KOL's own
fetches of the previous ``HISTORY_DAYS`` predict (a KOL without history: the contract's
``null_normal``). Pooled over the KOLs, the rise is what a person should look at. One pass over the
``fetches`` rows of a month: cheap at 1,000 KOLs.

"Bad" is a value stored as NULL: missing, unreadable, or sent as null, except for fields where null
is ordinary data (``null_normal`` 1.0: brandName is null on every organic note), where only missing
and unreadable values count.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import duckdb

from pgy_pipeline.justoneapi.contract import RULES

if TYPE_CHECKING:
    import pandas as pd

# A field whose pooled share of bad values in the latest fetches exceeds what history predicts by
# more than this is worth a look (20 points: well above the week-to-week noise of a KOL's nulls).
SHARE_RISE = 0.2
# How far back a KOL's own fetches make its history.
HISTORY_DAYS = 30


def _fields_sql() -> str:
    rows = []
    for name, rule in RULES.items():
        nulls_count = rule.null_normal < 1.0
        baseline = rule.null_normal if nulls_count else 0.0
        rows.append(f"('{name}', {str(nulls_count).lower()}, {baseline})")
    return "(VALUES " + ", ".join(rows) + ") AS fields(field, nulls_count, normal)"


def _bad(kind: str) -> str:
    return f"coalesce(TRY_CAST(json_extract_string(c, '$.{kind}.' || field) AS BIGINT), 0)"


_SQL = f"""
WITH f AS (
    SELECT user_id, started_at, field_counts AS c,
           row_number() OVER (PARTITION BY user_id ORDER BY started_at DESC, fetch_id DESC) AS recency
    FROM fetches
    WHERE field_counts IS NOT NULL AND status <> 'failed' AND started_at IS NOT NULL
), latest AS (
    SELECT user_id, started_at FROM f WHERE recency = 1
), used AS (
    SELECT f.* FROM f JOIN latest l USING (user_id)
    WHERE f.recency = 1 OR f.started_at >= l.started_at - to_days($history_days)
), per AS (
    SELECT user_id, recency = 1 AS is_latest, field, normal,
           coalesce(TRY_CAST(json_extract_string(c, '$.notes') AS BIGINT), 0) AS notes,
           {_bad("missing")} + {_bad("unreadable")} + CASE WHEN nulls_count THEN {_bad("null")} ELSE 0 END AS bad
    FROM used, {_fields_sql()}
), kol AS (
    SELECT user_id, field, any_value(normal) AS normal,
           sum(notes) FILTER (WHERE is_latest) AS notes,
           sum(bad) FILTER (WHERE is_latest) AS bad,
           sum(notes) FILTER (WHERE NOT is_latest) AS hist_notes,
           sum(bad) FILTER (WHERE NOT is_latest) AS hist_bad
    FROM per GROUP BY ALL
), judged AS (
    SELECT *, CASE WHEN hist_notes > 0 THEN hist_bad / hist_notes ELSE normal END AS baseline
    FROM kol WHERE notes > 0
)
SELECT field,
       sum(notes)::BIGINT AS notes,
       sum(bad)::BIGINT AS bad,
       round(sum(bad) / sum(notes), 4) AS share,
       round(sum(notes * baseline) / sum(notes), 4) AS expected_share,
       round((sum(bad) - sum(notes * baseline)) / sum(notes), 4) AS rise,
       count(*) AS kols,
       count(*) FILTER (WHERE bad / notes - baseline > $rise) AS kols_rising
FROM judged
GROUP BY field
ORDER BY rise DESC, field
"""


def field_shares(
    conn: duckdb.DuckDBPyConnection,
    rise: float = SHARE_RISE,
    history: timedelta = timedelta(days=HISTORY_DAYS),
) -> pd.DataFrame:
    """Per note field: notes in the KOLs' latest fetches, bad values among them, their share, the share
    the KOLs' history predicts, the rise, and how many KOLs rose by more than ``rise`` on their own."""
    return conn.execute(_SQL, {"history_days": history.days, "rise": rise}).df()
