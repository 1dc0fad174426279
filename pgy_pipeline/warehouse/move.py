"""Moving a warehouse between backends (the DuckDB file and DuckLake, either way), row for row.

The target attaches the source read-only and copies each table with one INSERT ... SELECT in
one transaction: DuckDB streams the rows, so a warehouse larger than memory moves too, and a
failure leaves the target as it was. The target must be empty (no fetches, notes or calls):
moving twice would double nothing silently, it is refused. Afterwards every table's rows are
counted on both sides and every key is checked unique (lake_schema.duplicate_keys).

The tables the engagement run builds (kol_engagement and the figures on it: not made by the
migrations, so absent from a new target) are copied as they stand, with the COMMENTs the source
holds, and the view built on them (rising_notes) is made again over the copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pgy_pipeline.warehouse.comments import apply_comments
from pgy_pipeline.warehouse.db import Warehouse, WarehouseError
from pgy_pipeline.warehouse.lake import LakeWarehouse, attach_statements, redact
from pgy_pipeline.warehouse.lake_schema import duplicate_keys, views_for
from pgy_pipeline.warehouse.lifecycle import RISING_NOTES_SQL

_SOURCE = "pgy_source"
# Bookkeeping of the schema, which the target already has for itself.
_OWN = {"schema_version", "schema_views"}
# The view the engagement run creates over its tables (views.sql's are the target's already).
_DERIVED_VIEWS = {"rising_notes": RISING_NOTES_SQL}


@dataclass(frozen=True)
class Moved:
    rows: dict[str, int]  # table -> rows copied


def move(source: Warehouse | LakeWarehouse, target: Warehouse | LakeWarehouse) -> Moved:
    """Copy every table of ``source`` into the empty ``target``; WarehouseError if it is not empty
    or if anything differs afterwards."""
    if not source.exists():
        raise WarehouseError(f"nothing to move: no warehouse at {source.location}")
    source.ensure()  # the same schema version on both sides
    target.ensure()
    rows: dict[str, int] = {}
    try:
        with target.write(publish=True) as conn:
            try:
                for sql in _attach_source(source):
                    conn.execute(sql)
            except duckdb.Error as exc:
                raise WarehouseError(f"cannot attach {source.location}: {redact(str(exc))}") from None
            _refuse_unless_empty(conn, target)
            made = set(_tables(conn, None))  # by the target's migrations
            for table in _tables(conn, _SOURCE):
                rows[table] = _copy(conn, table, derived=table not in made)
            for view in _views(conn, _SOURCE) & _DERIVED_VIEWS.keys():
                conn.execute(views_for(conn, _DERIVED_VIEWS[view]))
            dupes = duplicate_keys(conn)
            if dupes:
                raise WarehouseError(f"keys held by more than one row after the move: {dupes}")
    finally:
        if isinstance(target, LakeWarehouse):
            target.close()  # its connection holds the source attached; the file's closed with the write
    return Moved(rows)


def _attach_source(source: Warehouse | LakeWarehouse) -> list[str]:
    if isinstance(source, LakeWarehouse):
        return attach_statements(source.cfg, _SOURCE, read_only=True)
    return [f"ATTACH '{source.published_path}' AS {_SOURCE} (READ_ONLY)"]


def _refuse_unless_empty(conn: duckdb.DuckDBPyConnection, target: Warehouse | LakeWarehouse) -> None:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM fetches) + (SELECT count(*) FROM notes) + (SELECT count(*) FROM api_calls)"
    ).fetchone()
    if row and row[0]:
        raise WarehouseError(f"the target {target.location} already holds data; move only into an empty one")


def _tables(conn: duckdb.DuckDBPyConnection, database: str | None) -> list[str]:
    """The tables of ``database`` (None: the target, the connection's current database)."""
    rows = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = coalesce(?, current_database()) "
        "AND schema_name = 'main' ORDER BY 1",
        [database],
    ).fetchall()
    return [r[0] for r in rows if r[0] not in _OWN]


def _views(conn: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    rows = conn.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = ? AND schema_name = 'main' AND NOT internal",
        [database],
    ).fetchall()
    return {r[0] for r in rows}


def _source_comments(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """The COMMENTs of a source table, as ``apply_comments`` takes them ("" for the table's own)."""
    own = conn.execute(
        "SELECT comment FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
        "AND table_name = ? AND comment IS NOT NULL",
        [_SOURCE, table],
    ).fetchall()
    columns = conn.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'main' "
        "AND table_name = ? AND comment IS NOT NULL ORDER BY column_index",
        [_SOURCE, table],
    ).fetchall()
    return ({"": own[0][0]} if own else {}) | dict(columns)


def _copy(conn: duckdb.DuckDBPyConnection, table: str, derived: bool) -> int:
    if derived:  # recomputed by every engagement run: copied as it stands, with its COMMENTs
        conn.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {_SOURCE}.{table}")
        apply_comments(conn, table, _source_comments(conn, table))
    else:
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {_SOURCE}.{table}")
    copied = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    there = conn.execute(f"SELECT count(*) FROM {_SOURCE}.{table}").fetchone()
    if copied != there:
        raise WarehouseError(f"{table}: {there} rows in the source, {copied} in the target")
    return int(copied[0]) if copied else 0
