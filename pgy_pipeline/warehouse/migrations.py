"""Forward-only schema migrations for the warehouse.

Each ``sql/NNN_name.sql`` file moves the schema from version NNN-1 to NNN and runs in
its own transaction, so a failed migration leaves the previous version intact. A file
never changes once released: a new change is a new file. Data is never dropped.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import duckdb

from pgy_pipeline.warehouse.lake_schema import create_like_migrations, lake_migration, lake_views

_SQL_PACKAGE = "pgy_pipeline.warehouse.sql"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer pgy-pipeline than this one."""


def available_migrations() -> list[tuple[int, str]]:
    """(version, SQL text) for every migration file, in order."""
    out = []
    for entry in resources.files(_SQL_PACKAGE).iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.read_text(encoding="utf-8")))
    out.sort()
    expected = list(range(1, len(out) + 1))
    if [v for v, _ in out] != expected:
        raise RuntimeError(f"migration files must be numbered 001..{len(out):03d} without gaps")
    return out


LATEST_VERSION = len(available_migrations())


def views_sql() -> str:
    return resources.files(_SQL_PACKAGE).joinpath("views.sql").read_text(encoding="utf-8")


# The views in place carry it (schema_views); kol_engagement_inputs keys its rows on it too.
VIEWS_HASH = hashlib.sha256(views_sql().encode("utf-8")).hexdigest()[:16]


def apply_views(conn: duckdb.DuckDBPyConnection, lake: bool = False) -> bool:
    """(Re)create the views when ``views.sql`` changed since they were last created."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_views (hash VARCHAR)")
    row = conn.execute("SELECT max(hash) FROM schema_views").fetchone()
    if row and row[0] == VIEWS_HASH:
        return False
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(lake_views(views_sql()) if lake else views_sql())
        conn.execute("DELETE FROM schema_views")
        conn.execute("INSERT INTO schema_views VALUES (?)", [VIEWS_HASH])
        conn.execute("COMMENT ON TABLE schema_views IS 'Hash of the view definitions in place.'")
        conn.execute("COMMENT ON COLUMN schema_views.hash IS 'sha256 prefix of views.sql.'")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return True


def current_version(conn: duckdb.DuckDBPyConnection) -> int:
    exists = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version' AND schema_name = 'main' "
        "AND database_name = current_database()"  # a lake connection also sees its in-memory database
    ).fetchone()
    if not exists or exists[0] == 0:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: duckdb.DuckDBPyConnection, target: int | None = None, *, lake: bool = False) -> int:
    """Bring the schema to ``target`` (default: the latest version); returns the version reached.

    ``lake``: the connection's current database is a DuckLake (warehouse/lake_schema.py says
    what differs there and how each difference is covered).
    """
    target = LATEST_VERSION if target is None else target
    version = current_version(conn)
    if version > LATEST_VERSION:
        raise SchemaTooNewError(
            f"the warehouse has schema version {version}, newer than this pgy-pipeline knows "
            f"({LATEST_VERSION}); upgrade pgy-pipeline"
        )
    if version >= target:
        if version == LATEST_VERSION:
            apply_views(conn, lake)
        return version
    if lake and version == 0 and target == LATEST_VERSION:
        create_like_migrations(conn, build_in_memory)
        apply_views(conn, lake)
        return LATEST_VERSION
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER"
        + ("" if lake else " PRIMARY KEY")  # DuckLake has no keys: one writer holds the lock
        + ", applied_at TIMESTAMPTZ)"
    )
    conn.execute("COMMENT ON TABLE schema_version IS 'Warehouse schema versions applied, one row each.'")
    conn.execute("COMMENT ON COLUMN schema_version.version IS 'Schema version reached (sql/NNN_*.sql).'")
    conn.execute("COMMENT ON COLUMN schema_version.applied_at IS 'When this version was applied.'")
    for step, sql in available_migrations():
        if step <= version or step > target:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(lake_migration(sql) if lake else sql)
            conn.execute("INSERT INTO schema_version VALUES (?, now())", [step])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        version = step
    if version == LATEST_VERSION:
        apply_views(conn, lake)
    return version


def build_in_memory() -> duckdb.DuckDBPyConnection:
    """An in-memory database at the latest schema, built by the migrations themselves."""
    conn = duckdb.connect(":memory:")
    migrate(conn)
    return conn
