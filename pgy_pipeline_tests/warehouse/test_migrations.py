"""Schema versions: a database of the previous schema is upgraded in place without losing a row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from pgy_pipeline.warehouse import LATEST_VERSION, SchemaTooNewError, Warehouse
from pgy_pipeline.warehouse.migrations import current_version, migrate


def _at_version(tmp_path: Path, version: int) -> tuple[Warehouse, duckdb.DuckDBPyConnection]:
    """A warehouse whose working copy an older pgy-pipeline left at schema ``version``, open to fill."""
    wh = Warehouse(tmp_path)
    wh.state_dir.mkdir(parents=True)
    conn = duckdb.connect(str(wh.working_path))
    assert migrate(conn, target=version) == version
    return wh, conn


def test_a_version_1_database_is_upgraded_with_every_row_kept(tmp_path):
    wh, conn = _at_version(tmp_path, 1)
    conn.execute(
        "INSERT INTO notes (user_id, note_id, read_num, first_seen_at, last_seen_at, last_fetch_id) "
        "SELECT 'u' || (i % 7), 'n' || i, i, now(), now(), 'f' FROM range(5000) t(i)"
    )
    conn.execute("INSERT INTO kols VALUES ('u1', 'Alice', now(), NULL)")
    conn.close()

    wh.ensure()  # what every write does first: migrate to the latest version
    with wh.connect_snapshot() as snap:
        assert current_version(snap) == LATEST_VERSION >= 2
        assert snap.execute("SELECT count(*), sum(read_num) FROM notes").fetchone() == (
            5000,
            sum(range(5000)),
        )
        assert snap.execute("SELECT label FROM kols").fetchone() == ("Alice",)
        views = {
            r[0] for r in snap.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        }
    assert {"kol_leaderboard", "api_spend_daily", "note_growth"} <= views


def test_migrating_twice_changes_nothing(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(conn)
    before = conn.execute("SELECT count(*) FROM schema_version").fetchone()
    assert migrate(conn) == LATEST_VERSION
    assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == before


def test_a_database_from_a_newer_pgy_pipeline_is_refused_untouched(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(conn)
    conn.execute("INSERT INTO schema_version VALUES (99, now())")
    with pytest.raises(SchemaTooNewError, match="schema version 99"):
        migrate(conn)


def test_a_version_2_database_gets_scopes_and_evidence_based_gone_marks(tmp_path):
    wh, conn = _at_version(tmp_path, 2)
    fetch = (
        "INSERT INTO fetches (fetch_id, user_id, advertise_switch, order_type, note_type, is_third_platform, "
        "is_full, status, started_at, finished_at, notes_returned, pages, pages_reused, calls, retries, "
        "null_metrics, duplicates_dropped) VALUES (?, 'u', 'ALL', 'LATEST', 'ALL', ?, ?, 'complete', "
        "TIMESTAMPTZ '2026-03-01' + INTERVAL (?) HOUR, TIMESTAMPTZ '2026-03-01' + INTERVAL (?) HOUR, 0, 1, 0, 1, 0, 0, 0)"
    )
    conn.execute(fetch, ["f0", "NO", True, 0, 0])
    conn.execute(fetch, ["f1", "NO", True, 1, 2])
    conn.execute(fetch, ["f2", "YES", False, 3, 4])
    conn.execute(fetch, ["f3", "NO", True, 5, 6])  # the one-fetch rule marked n1 and t1 gone here
    seen = "TIMESTAMPTZ '2026-03-01 01:00'"
    conn.execute(
        "INSERT INTO notes (user_id, note_id, read_num, first_seen_at, last_seen_at, gone_at, last_fetch_id) "
        "VALUES ('u', 'n0', 0, TIMESTAMPTZ '2026-02-28', TIMESTAMPTZ '2026-02-28', NULL, 'f'), "
        f"('u', 'n1', 1, {seen}, {seen}, TIMESTAMPTZ '2026-03-01 06:00', 'f1'), "
        f"('u', 't1', 2, {seen}, TIMESTAMPTZ '2026-03-01 03:00', TIMESTAMPTZ '2026-03-01 06:00', 'f2')"
    )
    conn.execute(
        "INSERT INTO note_snapshots VALUES ('f1', 'u', 'n1', TIMESTAMPTZ '2026-03-01 01:00', 1, 1, 0, 0, 0), "
        "('f2', 'u', 't1', TIMESTAMPTZ '2026-03-01 03:00', 1, 2, 0, 0, 0)"
    )
    conn.close()

    wh.ensure()
    with wh.connect_snapshot() as snap:
        assert current_version(snap) == LATEST_VERSION >= 3
        notes = snap.execute(
            "SELECT note_id, read_num, scope, gone_at FROM notes ORDER BY note_id"
        ).fetchall()
        snaps = snap.execute("SELECT fetch_id, scope FROM note_snapshots ORDER BY fetch_id").fetchall()
        comments = snap.execute(
            "SELECT table_name, comment FROM duckdb_columns() WHERE column_name = 'scope' AND table_name LIKE 'note%'"
        ).fetchall()
    # n0 missed f0 and f1: gone at the end of f1. n1 missed one complete fetch (f3) only: live
    # again. t1 is third-platform: default fetches say nothing about it.
    assert notes == [
        ("n0", 0, "default", datetime(2026, 3, 1, 2, tzinfo=UTC)),
        ("n1", 1, "default", None),
        ("t1", 2, "third_platform", None),
    ]
    assert snaps == [("f1", "default"), ("f2", "third_platform")]
    assert len(comments) == 3 and all(c for _, c in comments)  # notes, note_snapshots, note_growth


def test_a_version_5_database_gets_each_fetch_s_totals_summed_from_its_snapshots(tmp_path):
    wh, conn = _at_version(tmp_path, 5)
    conn.execute(
        "INSERT INTO note_snapshots (fetch_id, user_id, note_id, fetched_at, page_number, read_num, like_num, "
        "collect_num) SELECT 'f' || (i % 3), 'u', 'n' || i, now(), 1, CASE WHEN i = 4 THEN NULL ELSE i END, "
        "i, CASE WHEN i = 5 THEN NULL ELSE 1 END FROM range(10) t(i)"
    )
    conn.close()

    wh.ensure()
    with wh.connect_snapshot() as snap:
        totals = snap.execute("SELECT * FROM fetch_totals ORDER BY fetch_id").fetchall()
        sums = snap.execute(
            "SELECT fetch_id, count(*), sum(read_num), sum(like_num + collect_num) FROM note_snapshots "
            "GROUP BY fetch_id ORDER BY fetch_id"
        ).fetchall()
    assert totals == sums and len(totals) == 3
