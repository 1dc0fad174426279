"""The warehouse on DuckLake (SQLite catalog, local data path): the same pipeline, SQL and COMMENTs.

The PostgreSQL catalog and an S3 data path are exercised by test_multi_worker.py and
test_lake_postgres.py; this file covers what does not depend on where the catalog lives.
"""

from __future__ import annotations

import re

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner

from pgy_pipeline.cli import main
from pgy_pipeline.warehouse import WarehouseError, extensions
from pgy_pipeline.warehouse.backends import open_warehouse
from pgy_pipeline.warehouse.catalog import catalog
from pgy_pipeline.warehouse.lake import LakeConfig, LakeWarehouse, connect_lake
from pgy_pipeline.warehouse.lake_schema import create_like_migrations, duplicate_keys
from pgy_pipeline.warehouse.migrations import LATEST_VERSION, current_version, migrate
from pgy_pipeline_tests.support import MakeEnv, expected_frame, stored_frame


@pytest.fixture
def lake_env(make_env: MakeEnv, monkeypatch, tmp_path):
    monkeypatch.setenv("PGY_WAREHOUSE_URL", f"ducklake:sqlite:{tmp_path / 'catalog.sqlite'}")
    monkeypatch.setenv("PGY_LAKE_DATA_PATH", f"{tmp_path / 'lake'}/")
    return make_env(fixed_counts={"kol_a": 20, "kol_b": 9, "kol_c": 0})


def test_a_refresh_on_the_lake_equals_the_simulator_and_keeps_every_key_unique(lake_env, tmp_path):
    kols = ["kol_a", "kol_b", "kol_c"]
    for _ in range(2):  # the second refresh merges into existing rows
        summaries = lake_env.refresh(kols)
        assert all(s.success for s in summaries)
    run = lake_env.engagement()
    assert run.success
    # The same asset checks, run on the lake, and all passing.
    checks = {
        r.event_log_entry.dagster_event.event_specific_data.check_name: r.event_log_entry.dagster_event.event_specific_data.passed
        for r in lake_env.instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
    }
    assert {"notes_unique_per_kol", "notes_fields_readable"} <= checks.keys() and all(checks.values()), checks
    assert isinstance(lake_env.pgy.warehouse(), LakeWarehouse)
    assert not (lake_env.data_dir / "pgy.duckdb").exists()  # nothing went to the file backend
    assert list((tmp_path / "lake").rglob("*.parquet"))
    with lake_env.db() as conn:
        for kol in kols:
            assert stored_frame(conn, kol) == expected_frame(lake_env.sim, kol)
        assert duplicate_keys(conn) == {}
        assert conn.execute("SELECT count(*) FROM fetches").fetchone() == (6,)
        assert conn.execute("SELECT count(*) FROM kol_leaderboard").fetchone() == (1,)  # >= 10 notes
        assert conn.execute("SELECT notes FROM kol_engagement WHERE user_id = 'kol_b'").fetchone() == (9,)
        assert current_version(conn) == LATEST_VERSION


def test_the_lake_carries_the_same_schema_and_comments_as_the_file(lake_env):
    lake_env.refresh(["kol_b"])
    assert lake_env.engagement().success
    with lake_env.db() as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'main'"
        ).fetchall()
        tables = dict(
            conn.execute(
                "SELECT table_name, comment FROM duckdb_tables() WHERE database_name = current_database() "
                "UNION ALL SELECT view_name, comment FROM duckdb_views() "
                "WHERE database_name = current_database() AND NOT internal"
            ).fetchall()
        )
        views = {
            v
            for (v,) in conn.execute(
                "SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
            ).fetchall()
        }
    lake = {(t, c): (ty, com) for t, c, ty, com in rows}
    for table in catalog().values():
        assert tables[table.name] == table.description, table.name
        for col in table.columns:
            data_type, comment = lake[(table.name, col.name)]
            assert data_type == col.type, (table.name, col.name)
            # DuckLake keeps no COMMENT on a view's columns (lake_schema.py); tables keep them all.
            assert comment == col.description or (comment is None and table.name in views), (
                table.name,
                col.name,
            )


def test_a_lake_made_at_an_older_version_is_migrated_in_place(tmp_path):
    """Migrations after a lake was made (004: billed calls, 005: categories, 006: fetch totals) run on
    DuckLake as they are."""
    cfg = LakeConfig(f"sqlite:{tmp_path / 'catalog.sqlite'}", f"{tmp_path / 'files'}/")

    def at_version_3() -> duckdb.DuckDBPyConnection:
        mem = duckdb.connect(":memory:")
        migrate(mem, 3)
        return mem

    with connect_lake(cfg, read_only=False) as conn:
        create_like_migrations(conn, at_version_3)
        conn.execute(
            "INSERT INTO api_calls (called_at, user_id, page_number, attempt, http_status, code, outcome, "
            "latency_ms) VALUES (now(), 'u', 1, 1, 200, 0, 'ok', 5), (now(), 'u', 2, 1, 200, 301, 'retry', 5), "
            "(now(), 'u', 2, 2, 502, NULL, 'retry', 5)"
        )
        conn.execute("INSERT INTO kols (user_id, label, added_at) VALUES ('u', 'x', now())")
        conn.execute(
            "INSERT INTO note_snapshots (fetch_id, user_id, note_id, fetched_at, page_number, read_num, like_num, "
            "collect_num) VALUES ('f1', 'u', 'n1', now(), 1, 10, 2, 1), ('f1', 'u', 'n2', now(), 1, NULL, 3, 1)"
        )
        assert current_version(conn) == 3
    lake = LakeWarehouse(cfg)
    try:
        lake.ensure()
        with lake.connect_snapshot() as conn:
            assert current_version(conn) == LATEST_VERSION
            assert conn.execute("SELECT code, billed FROM api_calls ORDER BY ALL").fetchall() == [
                (0, True),
                (301, False),
                (None, False),
            ]
            assert conn.execute("SELECT calls_billed, calls_unbilled FROM api_spend_daily").fetchall() == [
                (1, 2)
            ]
            assert conn.execute("SELECT user_id, category FROM kols").fetchall() == [("u", None)]
            assert conn.execute("SELECT * FROM fetch_totals").fetchall() == [("f1", 2, 10, 7)]
            comment = conn.execute(
                "SELECT comment FROM duckdb_columns() WHERE database_name = current_database() "
                "AND table_name = 'kols' AND column_name = 'category'"
            ).fetchone()
            assert comment == (
                next(c.description for c in catalog()["kols"].columns if c.name == "category"),
            )
    finally:
        lake.close()


def test_a_reader_sees_each_commit_as_soon_as_it_lands(lake_env):
    lake_env.refresh(["kol_a"])
    wh = open_warehouse(lake_env.data_dir)
    reader = wh.connect_snapshot()  # attached once, before the next commit
    try:
        before = reader.execute("SELECT count(*) FROM notes").fetchone()
        with wh.write() as conn:
            conn.execute(
                "UPDATE notes SET title = 'edited' WHERE note_id IN (SELECT note_id FROM notes LIMIT 3)"
            )
        assert reader.execute("SELECT count(*) FROM notes WHERE title = 'edited'").fetchone() == (3,)
        assert reader.execute("SELECT count(*) FROM notes").fetchone() == before
        with pytest.raises(duckdb.Error, match="read-only"):
            reader.execute("DELETE FROM notes")
    finally:
        reader.close()


def test_an_extension_built_for_another_duckdb_is_refused_with_both_versions(monkeypatch):
    monkeypatch.setattr(duckdb, "__version__", "9.9.9")
    with pytest.raises(
        extensions.ExtensionError, match=r"built for DuckDB v1\.5\.5.*DuckDB v9\.9\.9 is installed"
    ):
        extensions.extension_file("ducklake")


def _tables(conn) -> dict[str, list]:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND table_name NOT IN ('schema_version', 'schema_views') ORDER BY 1"
        ).fetchall()
    ]
    out = {t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in names}
    # The engagement run's own view, and the COMMENTs of the tables it builds (not the migrations').
    out["rising_notes"] = conn.execute("SELECT * FROM rising_notes ORDER BY ALL").fetchall()
    out["comments"] = conn.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE database_name = current_database() "
        "AND table_name IN ('kol_engagement', 'kol_costs', 'kol_percentiles', 'note_lifecycle', 'kol_lifecycle', "
        "'kol_flags') UNION ALL SELECT table_name, NULL, comment FROM duckdb_tables() "
        "WHERE database_name = current_database() ORDER BY ALL"
    ).fetchall()
    return out


def test_pgy_warehouse_migrate_moves_the_file_to_a_lake_and_back_row_for_row(
    refreshed, tmp_path, monkeypatch
):
    assert refreshed.engagement().success
    with refreshed.db() as conn:
        original = _tables(conn)
    assert len(original["notes"]) == 29 and original["kol_engagement"]
    assert len([c for c in original["comments"] if c[2]]) > 100
    lake_url = f"ducklake:sqlite:{tmp_path / 'moved' / 'catalog.sqlite'}"
    monkeypatch.setenv("PGY_LAKE_DATA_PATH", f"{tmp_path / 'moved' / 'files'}/")
    there = CliRunner().invoke(main, ["warehouse", "migrate", "--to", lake_url])
    assert there.exit_code == 0, there.output
    assert re.search(r"notes\s+29 rows", there.output) and re.search(r"fetches\s+2 rows", there.output)
    again = CliRunner().invoke(main, ["warehouse", "migrate", "--to", lake_url])
    assert again.exit_code == 1 and "already holds data" in again.output  # never doubled

    monkeypatch.setenv("PGY_WAREHOUSE_URL", lake_url)
    with open_warehouse(refreshed.data_dir).connect_snapshot() as conn:
        assert _tables(conn) == original
        assert duplicate_keys(conn) == {}
    back = CliRunner().invoke(main, ["warehouse", "migrate", "--to", f"duckdb:{tmp_path / 'back'}"])
    assert back.exit_code == 0, back.output
    with duckdb.connect(str(tmp_path / "back" / "pgy.duckdb"), read_only=True) as conn:
        assert _tables(conn) == original


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH 'ducklake:sqlite:{catalog}' AS w (DATA_PATH '{files}/'); DROP TABLE w.notes",
        "ATTACH 'ducklake:sqlite:{catalog}' AS w",
        "ATTACH '{catalog}' AS s (TYPE sqlite)",
        "COPY (SELECT * FROM notes) TO '{out}'",
        "SELECT * FROM read_csv('{roster}')",
        "SET enable_external_access = true",
        "DROP TABLE notes",
        "DELETE FROM notes",
        "CREATE TABLE mine AS SELECT 1 AS x",
        "COMMENT ON TABLE notes IS 'mine'",
        "INSTALL httpfs",
        "LOAD httpfs",
    ],
)
def test_pgy_query_on_the_lake_can_only_read(refreshed, tmp_path, monkeypatch, sql):
    catalog, files = tmp_path / "q" / "catalog.sqlite", tmp_path / "q" / "files"
    monkeypatch.setenv("PGY_LAKE_DATA_PATH", f"{files}/")
    assert (
        CliRunner().invoke(main, ["warehouse", "migrate", "--to", f"ducklake:sqlite:{catalog}"]).exit_code
        == 0
    )
    monkeypatch.setenv("PGY_WAREHOUSE_URL", f"ducklake:sqlite:{catalog}")
    out = tmp_path / "leak.csv"
    statement = sql.format(catalog=catalog, files=files, out=out, roster=refreshed.data_dir / "kols.csv")
    result = CliRunner().invoke(main, ["query", statement])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result  # said, no traceback
    assert "Error:" in result.output
    assert not out.exists()
    # count(DISTINCT ...) reads the Parquet files; count(*) alone is answered from the catalog.
    ok = CliRunner().invoke(
        main, ["query", "SELECT count(DISTINCT note_id) AS n FROM notes", "--format", "csv"]
    )
    assert ok.exit_code == 0 and ok.output == "n\n29\n", ok.output
    with open_warehouse(refreshed.data_dir).connect_snapshot() as conn:
        assert (
            conn.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'notes'")
            .fetchone()[0]
            .startswith("One row per")
        )
        assert not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'mine'").fetchone()[
            0
        ]


def test_an_unreachable_catalog_is_reported_without_its_password_or_the_bucket_keys(tmp_path):
    from pgy_pipeline.s3 import S3Config
    from pgy_pipeline.warehouse.lake import LakeConfig, redact

    cfg = LakeConfig(
        "postgres:dbname=lake host=127.0.0.1 port=9 user=pgy password=pw-SECRET-1",
        "s3://bucket/lake/",
        S3Config(endpoint="http://127.0.0.1:9", key_id="KEY-SECRET-2", secret="S3-SECRET-3"),
    )
    for attempt in (LakeWarehouse(cfg).ensure, lambda: LakeWarehouse(cfg).connect_snapshot()):
        with pytest.raises(WarehouseError) as err:
            attempt()
        assert "SECRET" not in str(err.value) and "catalog" in str(err.value)
    assert "SECRET" not in repr(cfg)
    quoted = cfg.s3.duckdb_secret_sql() + " " + cfg.catalog
    assert "SECRET-" not in redact(quoted) and "pw-" not in redact(quoted)


def test_a_run_with_the_roster_and_prices_unchanged_changes_no_row_of_either(lake_env):
    """Every run mirrors the roster into ``kols`` and the prices file into ``kol_prices``; when neither
    changed, neither table is rewritten (on the lake each rewritten row is a deletion and an insertion,
    every run, for ever)."""
    from pgy_pipeline.warehouse.prices import prices_path

    prices_path(lake_env.data_dir).write_text(
        "user_id,price_type,price,currency,valid_from,valid_to,note\nkol_a,video,9000,CNY,2026-01-01,,\n"
    )

    def changes(table: str) -> list[tuple[object, ...]]:
        with lake_env.db() as conn:
            last = conn.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')").fetchone()[0]
            return conn.execute(
                f"SELECT change_type, user_id FROM ducklake_table_changes('lake', 'main', '{table}', 0, ?) "
                "ORDER BY ALL",
                [last],
            ).fetchall()

    assert all(s.success for s in lake_env.refresh(["kol_a", "kol_b"]))
    first = {t: changes(t) for t in ("kols", "kol_prices")}
    assert first == {"kols": [("insert", "kol_a"), ("insert", "kol_b")], "kol_prices": [("insert", "kol_a")]}
    assert all(s.success for s in lake_env.refresh(["kol_a", "kol_b"], {"force": True}))
    assert {t: changes(t) for t in ("kols", "kol_prices")} == first
