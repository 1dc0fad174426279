"""Which notes came back after missing from counting fetches: the fast query equals the plain one.

``queries._listing_returns_sql`` reads only the sightings of the window (on a year-old warehouse
the plain query took 47.8 s); the plain query is kept here as the reference, and both run on random
histories built through the real write path: complete, incomplete, filtered and third-platform
fetches of a few KOLs, days apart, listing random subsets of their notes.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from pgy_pipeline.warehouse import queries
from pgy_pipeline.warehouse.gone import COUNTS_FOR_GONE, FETCH_SCOPE
from pgy_pipeline_tests.warehouse.lab import Lab, note, pages_of

KOLS = ("kol_a", "kol_b", "kol_c")
KINDS: tuple[dict[str, Any], ...] = (
    {},
    {},
    {},
    {"status": "incomplete", "stop_reason": "page_cap"},
    {"advertise_switch": "ORGANIC_ONLY"},
    {"third_platform": True},
    {"third_platform": True},
)


def _reference_sql(since: str, min_misses: int, for_users: bool, scope: str | None = None) -> str:
    """The plain query: every sighting of every note with the one before it (a window over the
    whole history), and the counting fetches between the two counted one by one. ``scope``: of
    the notes of that scope only."""
    users = "AND s.user_id IN (SELECT unnest($users::VARCHAR[]))" if for_users else ""
    users += f" AND n.scope = '{scope}'" if scope else ""
    return f"""
        WITH counting AS (
            SELECT user_id, {FETCH_SCOPE} AS scope, started_at FROM fetches WHERE {COUNTS_FOR_GONE}
        ), seen AS (
            SELECT s.user_id, s.note_id, n.scope, f.started_at,
                   lag(f.started_at) OVER (PARTITION BY s.user_id, s.note_id ORDER BY f.started_at)
                       AS seen_before
            FROM note_snapshots s
            JOIN fetches f ON f.fetch_id = s.fetch_id
            JOIN notes n ON n.user_id = s.user_id AND n.note_id = s.note_id
            WHERE TRUE {users}
        ), returns AS (
            SELECT g.user_id, g.note_id, g.started_at
            FROM seen g
            JOIN counting c
              ON c.user_id = g.user_id AND c.scope = g.scope
             AND c.started_at > g.seen_before AND c.started_at < g.started_at
            WHERE g.started_at >= {since}
            GROUP BY ALL
            HAVING count(*) >= {int(min_misses)}
        )
        SELECT user_id, count(DISTINCT note_id) AS notes_returned, max(started_at) AS last_returned_at
        FROM returns GROUP BY user_id ORDER BY notes_returned DESC, user_id
    """


def _history(lab: Lab, rng: random.Random) -> None:
    # The third-platform listing holds other notes than the default one (they are disjoint).
    pool = {
        (k, tp): [note(f"{k}-{'tp' if tp else ''}{i}") for i in range(8)]
        for k in KOLS
        for tp in (False, True)
    }
    for _ in range(rng.randint(4, 16)):
        kol, kind = rng.choice(KOLS), rng.choice(KINDS)
        listed = [n for n in pool[kol, "third_platform" in kind] if rng.random() < 0.7]
        lab.fetch(kol, pages_of(listed), **kind)
        lab.tick(minutes=rng.choice((10, 60 * 24, 60 * 24 * 3)))


def _both(lab: Lab, since: str, misses: int, users: list[str] | None, params: dict) -> tuple[list, list]:
    args = params | ({"users": users} if users is not None else {})
    fast = lab.conn.execute(queries._listing_returns_sql(since, misses, users is not None), args).fetchall()
    plain = lab.conn.execute(_reference_sql(since, misses, users is not None), args).fetchall()
    return fast, plain


def test_the_windowed_query_finds_the_returns_the_plain_one_finds(tmp_path) -> None:
    returns = third_platform = 0
    for seed in range(24):
        rng = random.Random(seed)
        lab = Lab(tmp_path / str(seed))
        _history(lab, rng)
        newest = "(SELECT max(started_at) FROM fetches) - $window"
        for days in (2, 5, 30):  # the check's window, back from the newest fetch
            fast, plain = _both(lab, newest, 2, None, {"window": timedelta(days=days)})
            assert fast == plain, (seed, days)
            returns += len(plain)
            args: dict[str, Any] = {"window": timedelta(days=days)}
            third_platform += len(
                lab.conn.execute(_reference_sql(newest, 2, False, "third_platform"), args).fetchall()
            )
        for back in (1, 4, 40):  # the plan's evidence: one miss is enough, for some KOLs, since a time
            since = lab.now - timedelta(days=back)
            fast, plain = _both(lab, "$since", 1, list(KOLS[:2]), {"since": since})
            assert fast == plain, (seed, back)
            returns += len(plain)
            args = {"since": since, "users": list(KOLS[:2])}
            third_platform += len(
                lab.conn.execute(_reference_sql("$since", 1, True, "third_platform"), args).fetchall()
            )
    assert returns >= 20  # the histories hold returns: not a comparison of two empty answers
    assert third_platform >= 5  # and returns of the third-platform listing, which has its own fetches
