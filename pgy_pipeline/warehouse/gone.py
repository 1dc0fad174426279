"""The gone rule: when a note the API stopped returning is marked gone (``notes.gone_at``).

A note is marked gone only when it is absent from **two consecutive complete fetches of
its scope**. A fetch counts when its status is 'complete' and no filter narrows it within
its scope (advertiseSwitch=ALL, noteType=ALL; orderType only reorders). Its scope is
'third_platform' when it asked isThirdPlatform=YES, else 'default'; the two listings are
disjoint, so a fetch of one scope never marks notes of the other.

Concretely, for each KOL and scope, with its counting fetches ordered by started_at: a
note last seen before the start of one of them (F1) and therefore absent from it and from
the next one (F2) has ``gone_at = F2.finished_at``, F1 being the first counting fetch
after the note's last sighting. Otherwise ``gone_at`` is NULL: a note seen again comes
back, its history untouched.

Why two: one glitchy answer (page 1 empty while total says 30, an empty page with
total 0) can look like a complete fetch that returned nothing. Why recompute rather
than stamp: ``gone_at`` is then a function of the set of fetches and of the notes' last
sightings, whatever the order they were written in, so a rebuild from the raw layer
(``warehouse/replay.py``) gives the same marks as the live database.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import duckdb

FETCH_SCOPE = "CASE WHEN is_third_platform = 'YES' THEN 'third_platform' ELSE 'default' END"

# Belt and braces on the status: the client never calls a fetch stopped short 'complete',
# but the stop reasons that mean "not every note" are refused here too.
COUNTS_FOR_GONE = (
    "status = 'complete' AND advertise_switch = 'ALL' AND note_type = 'ALL' "
    "AND coalesce(stop_reason, '') NOT IN ('window_reached', 'short_of_total', 'page_cap') "
    "AND started_at IS NOT NULL"
)

_GONE = f"""
CREATE OR REPLACE TEMP TABLE _gone AS
WITH evidence AS (
    SELECT user_id, {FETCH_SCOPE} AS scope, started_at,
           lead(finished_at) OVER (PARTITION BY user_id, {FETCH_SCOPE} ORDER BY started_at, fetch_id)
               AS gone_at
    FROM fetches
    WHERE user_id IN (SELECT user_id FROM {{users}}) AND {COUNTS_FOR_GONE}
    -- two fetches starting at the same instant: the ASOF join below must pick one, always the same
    QUALIFY row_number() OVER (PARTITION BY user_id, {FETCH_SCOPE}, started_at ORDER BY fetch_id) = 1
)
SELECT n.user_id, n.note_id, n.gone_at AS was, e.gone_at AS now
FROM notes n ASOF LEFT JOIN evidence e
  ON n.user_id = e.user_id AND n.scope = e.scope AND n.last_seen_at < e.started_at
WHERE n.user_id IN (SELECT user_id FROM {{users}}) AND n.gone_at IS DISTINCT FROM e.gone_at
"""


@dataclass(frozen=True, slots=True)
class GoneChanges:
    marked_by_user: dict[str, int]
    revived_by_user: dict[str, int]


def apply_gone_rule(conn: duckdb.DuckDBPyConnection, users: str) -> GoneChanges:
    """Recompute ``gone_at`` of every note of the KOLs in the table ``users`` (a ``user_id`` column)."""
    conn.execute(_GONE.format(users=users))
    try:
        changes = conn.execute(
            "SELECT user_id, was IS NULL AS marked FROM _gone WHERE (was IS NULL) <> (now IS NULL)"
        ).fetchall()
        conn.execute(
            "UPDATE notes SET gone_at = g.now FROM _gone g "
            "WHERE notes.user_id = g.user_id AND notes.note_id = g.note_id"
        )
    finally:
        conn.execute("DROP TABLE IF EXISTS _gone")
    return GoneChanges(
        marked_by_user=dict(Counter(u for u, marked in changes if marked)),
        revived_by_user=dict(Counter(u for u, marked in changes if not marked)),
    )
