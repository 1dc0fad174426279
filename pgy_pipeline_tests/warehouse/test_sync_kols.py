"""The roster mirrored into ``kols`` (writes.sync_kols): added, relabelled, removed, back again."""

from __future__ import annotations

from pgy_pipeline.warehouse.writes import sync_kols
from pgy_pipeline_tests.warehouse.lab import connect


def _kols(conn) -> dict[str, tuple[object, object, bool]]:
    rows = conn.execute("SELECT user_id, label, category, removed_at IS NOT NULL FROM kols").fetchall()
    return {u: (label, category, removed) for u, label, category, removed in rows}


def test_the_roster_is_mirrored_and_a_removed_kol_comes_back_with_its_first_added_at() -> None:
    conn = connect()
    sync_kols(conn, [("a", "A", "food"), ("b", None, None)])
    added = dict(conn.execute("SELECT user_id, added_at FROM kols").fetchall())
    sync_kols(conn, [("a", "A2", None), ("c", "C", None)])
    assert _kols(conn) == {"a": ("A2", None, False), "b": (None, None, True), "c": ("C", None, False)}
    sync_kols(conn, [("a", "A2", None), ("b", None, None), ("c", "C", None)])  # b back, as it was
    assert _kols(conn)["b"] == (None, None, False)
    assert dict(conn.execute("SELECT user_id, added_at FROM kols WHERE user_id = 'b'").fetchall()) == {
        "b": added["b"]
    }


def test_a_removal_keeps_its_first_time_while_the_kol_stays_off_the_roster() -> None:
    conn = connect()
    sync_kols(conn, [("a", None, None), ("b", None, None)])
    sync_kols(conn, [("a", None, None)])
    removed = conn.execute("SELECT removed_at FROM kols WHERE user_id = 'b'").fetchone()
    sync_kols(conn, [("a", None, None)])
    assert conn.execute("SELECT removed_at FROM kols WHERE user_id = 'b'").fetchone() == removed
