"""The warehouse schema on DuckLake: the same migrations and views, and how each gap is covered.

DuckLake (1.0, with DuckDB 1.5.5) runs the warehouse's SQL as it is (MERGE, window functions,
ASOF joins, views, macros, COMMENT ON TABLE/COLUMN, temp tables), with three gaps:

- **No PRIMARY KEY or UNIQUE.** The keys are kept by the writes instead: every write that
  could repeat a key is a MERGE on it (``fetches``, ``kols``, ``notes``), snapshots are
  appended only for (fetch, note) pairs not yet stored (``warehouse/notes.py``), and one
  writer at a time holds the lake's writer lock (``warehouse/lake.py``), so two writers never
  both insert a key. ``duplicate_keys`` checks every key; the ``notes_unique_per_kol`` asset
  check and ``pgy warehouse migrate`` run it.
- **No SET NOT NULL on a table without statistics** (an empty table), which migration 003 does.
  A new lake is therefore created from the schema the migrations build in an in-memory DuckDB
  (``create_like_migrations``): the same columns, types, defaults, NOT NULLs and COMMENTs.
- **No COMMENT on a view's columns.** The view keeps its own COMMENT; its columns'
  descriptions stay in views.sql (and lifecycle.py's rising_notes) and in the Dagster UI
  (``warehouse/catalog.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import duckdb

# The key of each table: unique by the writes (see above), checked by ``duplicate_keys``.
KEYS: dict[str, tuple[str, ...]] = {
    "kols": ("user_id",),
    "fetches": ("fetch_id",),
    "notes": ("user_id", "note_id"),
    "note_snapshots": ("fetch_id", "note_id"),
    "fetch_totals": ("fetch_id",),
    "schema_version": ("version",),
}

_PRIMARY_KEY = re.compile(r"(\s+NOT NULL)?\s+PRIMARY KEY", re.IGNORECASE)
_CREATE_VIEW = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(\w+)", re.IGNORECASE)


def lake_migration(sql: str) -> str:
    """A migration's SQL for DuckLake: a key column keeps its NOT NULL, loses the key."""
    return _PRIMARY_KEY.sub(" NOT NULL", sql)


def lake_views(sql: str) -> str:
    """views.sql for DuckLake: without the COMMENTs on view columns (one statement a line)."""
    views = set(_CREATE_VIEW.findall(sql))
    kept = [
        line
        for line in sql.splitlines()
        if not any(line.startswith(f"COMMENT ON COLUMN {v}.") for v in views)
    ]
    return "\n".join(kept) + "\n"


def on_lake(conn: duckdb.DuckDBPyConnection) -> bool:
    """True when ``conn`` writes to a DuckLake (its current database)."""
    row = conn.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return bool(row and row[0] == "ducklake")


def views_for(conn: duckdb.DuckDBPyConnection, sql: str) -> str:
    """A view's SQL (one statement a line) for where ``conn`` writes: ``lake_views`` on a lake.
    For the views the engagement run creates beside its tables (lifecycle.py's rising_notes)."""
    return lake_views(sql) if on_lake(conn) else sql


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_like_migrations(
    lake: duckdb.DuckDBPyConnection, build: Callable[[], duckdb.DuckDBPyConnection]
) -> None:
    """Create on an empty lake the tables, COMMENTs and schema_version rows that the
    migrations build (``build`` returns an in-memory database at the latest version)."""
    mem = build()
    try:
        tables = mem.execute(
            "SELECT table_name, sql, comment FROM duckdb_tables() WHERE schema_name = 'main' "
            "ORDER BY table_name"
        ).fetchall()
        columns = mem.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = 'main' "
            "AND comment IS NOT NULL AND table_name IN (SELECT table_name FROM duckdb_tables()) "
            "ORDER BY table_name, column_index"
        ).fetchall()
        versions = mem.execute("SELECT version, applied_at FROM schema_version ORDER BY version").fetchall()
    finally:
        mem.close()
    lake.execute("BEGIN TRANSACTION")
    try:
        for name, ddl, comment in tables:
            lake.execute(lake_migration(ddl))
            if comment:
                lake.execute(f"COMMENT ON TABLE {name} IS {_quote(comment)}")
        for table, column, comment in columns:
            lake.execute(f"COMMENT ON COLUMN {table}.{column} IS {_quote(comment)}")
        lake.executemany("INSERT INTO schema_version VALUES (?, ?)", [list(v) for v in versions])
    except BaseException:
        lake.execute("ROLLBACK")
        raise
    lake.execute("COMMIT")


def duplicate_keys(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Keys held by more than one row, per table (empty when every key is unique)."""
    out = {}
    for table, key in KEYS.items():
        cols = ", ".join(key)
        row = conn.execute(
            f"SELECT count(*) FROM (SELECT {cols} FROM {table} GROUP BY {cols} HAVING count(*) > 1)"
        ).fetchone()
        if row and row[0]:
            out[table] = int(row[0])
    return out
