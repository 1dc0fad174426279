"""The notes upsert and the snapshots of a write batch, order-independent by construction.

``notes`` holds one row per (user_id, note_id), a function of the note's sightings
(``note_snapshots``), whatever the order fetches are written in:

- every value column, the descriptive ones (title, date, flags, brand, cover) as the
  metrics: the newest *known* value. A NULL from the API (null, missing, unreadable)
  never overwrites a known value; ``note_snapshots`` keeps exactly what the API said of
  the metrics. An older sighting written later (a replay) fills a descriptive value the
  note lacks but never replaces one (exact unless two older sightings that disagree are
  written after a newer NULL: descriptive values are not in the snapshots to refold);
- ``last_seen_at`` and ``last_fetch_id``: from the newest sighting;
- ``first_seen_at``: the oldest sighting;
- ``scope``: 'default' when any sighting came from the default listing, else
  'third_platform' (the isThirdPlatform=YES listing, disjoint from the default one).

Works on the temp tables ``write_fetches`` prepares: ``_note_batch`` (staged sightings) and
``_fetch_batch`` (the fetch rows); its own temp tables are dropped before it returns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import duckdb

from pgy_pipeline.warehouse.gone import FETCH_SCOPE

_NOTE_VALUES = """user_id, note_id, title, publish_date, is_video, is_advertise, brand_name, img_url,
    read_num, like_num, collect_num, third_read_user_num"""
METRICS = ("read_num", "like_num", "collect_num", "third_read_user_num")
DESCRIPTIVE = ("title", "publish_date", "is_video", "is_advertise", "brand_name", "img_url")

_SIGHTINGS = f"""
(SELECT b.*, f.scope FROM _note_batch b
 JOIN (SELECT fetch_id, {FETCH_SCOPE} AS scope FROM _fetch_batch) f USING (fetch_id)) AS sighting"""

# One row per note; a batch holding several fetches of a KOL (a replay) folds them first.
_FOLD = f"""
SELECT user_id, note_id, fetch_id, fetched_at,
       {", ".join(f"last_value({c} IGNORE NULLS) OVER w AS {c}" for c in (*DESCRIPTIVE, *METRICS))},
       min(fetched_at) OVER w AS first_fetched_at,
       CASE WHEN bool_or(scope = 'default') OVER w THEN 'default' ELSE 'third_platform' END AS scope
FROM {_SIGHTINGS}
WINDOW w AS (PARTITION BY user_id, note_id ORDER BY fetched_at, fetch_id
             ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
QUALIFY row_number() OVER (PARTITION BY user_id, note_id ORDER BY fetched_at DESC, fetch_id DESC) = 1
"""
_ONE_EACH = f"SELECT *, fetched_at AS first_fetched_at FROM {_SIGHTINGS}"

_SCOPE = "CASE WHEN 'default' IN (notes.scope, b.scope) THEN 'default' ELSE 'third_platform' END"

_NEWER = "b.fetched_at >= notes.last_seen_at"

# One UPDATE action whose values depend on the sighting's age (DuckLake's MERGE takes a single
# UPDATE action): the newest sighting of each note wins and a NULL never overwrites a known
# value; an older fetch replayed later never overwrites newer metrics, only fills a descriptive
# value the note lacks, and widens first_seen_at and the scope.
_MERGE_NOTES = f"""
MERGE INTO notes USING (SELECT * FROM _notes_in WHERE user_id IN (SELECT user_id FROM _known_users)) AS b
ON notes.user_id = b.user_id AND notes.note_id = b.note_id
WHEN MATCHED THEN UPDATE SET
    {", ".join(f"{c} = CASE WHEN {_NEWER} THEN coalesce(b.{c}, notes.{c}) ELSE coalesce(notes.{c}, b.{c}) END" for c in DESCRIPTIVE)},
    {", ".join(f"{m} = CASE WHEN {_NEWER} THEN coalesce(b.{m}, notes.{m}) ELSE notes.{m} END" for m in METRICS)},
    last_seen_at = CASE WHEN {_NEWER} THEN b.fetched_at ELSE notes.last_seen_at END,
    last_fetch_id = CASE WHEN {_NEWER} THEN b.fetch_id ELSE notes.last_fetch_id END,
    first_seen_at = least(notes.first_seen_at, b.first_fetched_at),
    scope = {_SCOPE}
WHEN NOT MATCHED THEN INSERT ({_NOTE_VALUES}, first_seen_at, last_seen_at, gone_at, last_fetch_id, scope)
VALUES (b.user_id, b.note_id, b.title, b.publish_date, b.is_video, b.is_advertise, b.brand_name, b.img_url,
        b.read_num, b.like_num, b.collect_num, b.third_read_user_num, b.first_fetched_at, b.fetched_at, NULL,
        b.fetch_id, b.scope)
"""

# KOLs with no row yet take a plain insert: the first fetch of a KOL, or a rebuild from the raw layer.
_INSERT_NEW_NOTES = f"""
INSERT INTO notes ({_NOTE_VALUES}, first_seen_at, last_seen_at, gone_at, last_fetch_id, scope)
SELECT {_NOTE_VALUES}, first_fetched_at, fetched_at, NULL, fetch_id, scope
FROM _notes_in AS b ANTI JOIN _known_users k USING (user_id)
"""

_SNAPSHOT_COLUMNS = (
    "fetch_id, user_id, note_id, fetched_at, page_number, read_num, like_num, collect_num, "
    "third_read_user_num, scope"
)

# A sighting older than what a note already holds may carry the newest known value of a
# metric the newer sightings lacked: those notes take their metrics from their history.
_REFOLD_METRICS = f"""
UPDATE notes SET {", ".join(f"{m} = s.{m}" for m in METRICS)}
FROM (
    SELECT user_id, note_id,
           {", ".join(f"last({m} ORDER BY fetched_at, fetch_id) FILTER (WHERE {m} IS NOT NULL) AS {m}" for m in METRICS)}
    FROM note_snapshots SEMI JOIN _stale USING (user_id, note_id)
    GROUP BY user_id, note_id
) s
WHERE notes.user_id = s.user_id AND notes.note_id = s.note_id
"""


@dataclass(frozen=True, slots=True)
class Upserted:
    distinct: int
    new_by_user: dict[str, int]


def upsert_notes(conn: duckdb.DuckDBPyConnection, several_per_note: bool) -> Upserted:
    """Upsert the batch's notes and append its snapshots (each (fetch, note) once)."""
    # The KOLs of the batch that already have notes, read before any is inserted.
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE _known_users AS SELECT DISTINCT user_id FROM notes "
        "WHERE user_id IN (SELECT user_id FROM _fetch_batch)"
    )
    try:
        return _upsert(conn, several_per_note)
    finally:
        for table in ("_known_users", "_notes_in", "_stale"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def _upsert(conn: duckdb.DuckDBPyConnection, several_per_note: bool) -> Upserted:
    conn.execute(f"CREATE OR REPLACE TEMP TABLE _notes_in AS {_FOLD if several_per_note else _ONE_EACH}")
    known_row = conn.execute("SELECT count(*) FROM _known_users").fetchone()
    known = bool(known_row and known_row[0])
    new_by_user: Counter[str] = Counter(
        dict(
            conn.execute(
                "SELECT user_id, count(*) FROM _notes_in ANTI JOIN _known_users USING (user_id) GROUP BY user_id"
            ).fetchall()
        )
    )
    conn.execute(_INSERT_NEW_NOTES)
    stale = 0
    if known:
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE _stale AS SELECT b.user_id, b.note_id FROM _notes_in b "
            "JOIN notes n USING (user_id, note_id) WHERE b.first_fetched_at < n.last_seen_at"
        )
        stale_row = conn.execute("SELECT count(*) FROM _stale").fetchone()
        stale = int(stale_row[0]) if stale_row else 0
        # Counted before the MERGE rather than with RETURNING, which DuckLake does not implement:
        # the rows the MERGE inserts are exactly the batch's notes that have no row yet.
        new_by_user.update(
            dict(
                conn.execute(
                    "SELECT b.user_id, count(*) FROM _notes_in b SEMI JOIN _known_users k USING (user_id) "
                    "ANTI JOIN notes n USING (user_id, note_id) GROUP BY b.user_id"
                ).fetchall()
            )
        )
        conn.execute(_MERGE_NOTES)
    _append_snapshots(conn)
    if stale:
        conn.execute(_REFOLD_METRICS)
    distinct = conn.execute("SELECT count(*) FROM _notes_in").fetchone()
    return Upserted(int(distinct[0]) if distinct else 0, dict(new_by_user))


def _append_snapshots(conn: duckdb.DuckDBPyConnection) -> None:
    # Snapshots of a fetch already written (a replay) are not written twice. Fetch ids
    # sort by time and arrive in order, so the filter on them prunes by zone maps.
    seen = conn.execute(
        "SELECT count(*) FROM note_snapshots WHERE fetch_id IN (SELECT fetch_id FROM _fetch_batch)"
    ).fetchone()
    if seen and seen[0]:
        conn.execute(
            f"""
            INSERT INTO note_snapshots ({_SNAPSHOT_COLUMNS})
            SELECT {_SNAPSHOT_COLUMNS} FROM {_SIGHTINGS}
            ANTI JOIN (
                SELECT fetch_id, note_id FROM note_snapshots
                WHERE fetch_id IN (SELECT fetch_id FROM _fetch_batch)
            ) s USING (fetch_id, note_id)
            """
        )
    else:
        conn.execute(
            f"INSERT INTO note_snapshots ({_SNAPSHOT_COLUMNS}) SELECT {_SNAPSHOT_COLUMNS} FROM {_SIGHTINGS}"
        )
