"""Schema versions: a database of the previous schema is upgraded in place without losing a row."""

from __future__ import annotations

import duckdb
import pytest

from pgy_pipeline.warehouse import LATEST_VERSION, SchemaTooNewError, Warehouse
from pgy_pipeline.warehouse.migrations import current_version, migrate


def test_a_version_1_database_is_upgraded_with_every_row_kept(tmp_path):
    wh = Warehouse(tmp_path)
    wh.state_dir.mkdir(parents=True)
    conn = duckdb.connect(str(wh.working_path))
    assert migrate(conn, target=1) == 1
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
