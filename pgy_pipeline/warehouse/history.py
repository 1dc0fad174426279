"""What the warehouse knows of each KOL's past refreshes: the inputs of the rota, the plan and
budget priority (refresh/modes.py, refresh/plan.py).

An **incremental** fetch is recognised in ``fetches`` as an unfiltered fetch that is not full:
the engine records a windowed fetch with ``is_full = FALSE`` (only complete full fetches may
mark notes gone), and a filtered fetch always has a filter column set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import duckdb

# SQL predicates over ``fetches`` shared with warehouse/engagement.py.
FULL_FETCH = "is_full AND status = 'complete'"
INCREMENTAL_FETCH = (
    "NOT is_full AND status <> 'failed' AND advertise_switch = 'ALL' AND note_type = 'ALL' "
    "AND is_third_platform = 'NO'"
)


@dataclass(frozen=True, slots=True)
class KolHistory:
    """One KOL's refreshes and notes as stored; None/0 for a KOL never fetched."""

    user_id: str
    last_full_day: date | None  # day (Asia/Shanghai) of the last complete full fetch
    last_refresh_at: datetime | None  # last successful fetch of either kind
    last_refresh_day: date | None
    live_notes: int  # not marked gone
    notes_in_window: int  # live notes published on or after the window start
    notes_per_day: float  # publishing cadence over the last 90 days
    # Live default-scope notes the last complete full fetch did not return: deleted, or a
    # glitch. The gone rule waits for a second complete full fetch to tell which.
    awaiting_confirmation: int = 0


_HISTORY = f"""
WITH wanted AS (SELECT unnest($ids::VARCHAR[]) AS user_id),
f AS (
    SELECT user_id,
           max(finished_at) FILTER (WHERE {FULL_FETCH}) AS last_full_at,
           arg_max(started_at, finished_at) FILTER (WHERE {FULL_FETCH}) AS last_full_started,
           max(finished_at) FILTER (WHERE {FULL_FETCH} OR {INCREMENTAL_FETCH}) AS last_refresh_at
    FROM fetches WHERE user_id IN (SELECT user_id FROM wanted) GROUP BY user_id
),
n AS (
    SELECT user_id,
           count(*) FILTER (WHERE gone_at IS NULL) AS live,
           count(*) FILTER (WHERE gone_at IS NULL AND publish_date >= $window_start) AS in_window,
           count(*) FILTER (WHERE publish_date > CAST($today AS DATE) - 90) / 90.0 AS per_day,
           count(*) FILTER (WHERE gone_at IS NULL AND scope = 'default' AND last_seen_at < f.last_full_started)
               AS awaiting
    FROM notes LEFT JOIN f USING (user_id)
    WHERE user_id IN (SELECT user_id FROM wanted) GROUP BY user_id
)
SELECT w.user_id, CAST(timezone('Asia/Shanghai', f.last_full_at) AS DATE),
       f.last_refresh_at, CAST(timezone('Asia/Shanghai', f.last_refresh_at) AS DATE),
       coalesce(n.live, 0), coalesce(n.in_window, 0), coalesce(n.per_day, 0.0), coalesce(n.awaiting, 0)
FROM wanted w LEFT JOIN f USING (user_id) LEFT JOIN n USING (user_id)
"""


def kol_histories(
    conn: duckdb.DuckDBPyConnection, user_ids: Sequence[str], today: date, window_start: date
) -> dict[str, KolHistory]:
    rows = conn.execute(
        _HISTORY, {"ids": list(user_ids), "today": today, "window_start": window_start}
    ).fetchall()
    return {
        r[0]: KolHistory(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), float(r[6]), int(r[7])) for r in rows
    }


def learned_page_size(conn: duckdb.DuckDBPyConnection, last_fetches: int = 500) -> int | None:
    """The most notes one page held in recent fetches (the API documents no page size)."""
    row = conn.execute(
        """
        SELECT max(n) FROM (
            SELECT count(*) AS n FROM note_snapshots
            WHERE fetch_id IN (SELECT fetch_id FROM fetches ORDER BY finished_at DESC LIMIT $k)
            GROUP BY fetch_id, page_number
        )
        """,
        {"k": last_fetches},
    ).fetchone()
    return int(row[0]) if row and row[0] else None


def calls_per_page(conn: duckdb.DuckDBPyConnection, recent_calls: int = 20000) -> float | None:
    """Billed calls per page obtained over the most recent calls: the overhead of 301s, 500s,
    timeouts and slow-downs as this token meets them; None before any call."""
    row = conn.execute(
        """
        SELECT count(*) / nullif(count(*) FILTER (WHERE outcome = 'ok'), 0)
        FROM (SELECT outcome FROM api_calls ORDER BY called_at DESC LIMIT $k)
        """,
        {"k": recent_calls},
    ).fetchone()
    return float(row[0]) if row and row[0] is not None else None
