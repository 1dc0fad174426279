"""Moving a warehouse between backends (the DuckDB file and DuckLake, either way), row for row.

The target attaches the source read-only and copies each table with one INSERT ... SELECT in
one transaction: DuckDB streams the rows, so a warehouse larger than memory moves too, and a
failure leaves the target as it was. The target must be empty (no fetches, notes or calls):
moving twice would double nothing silently, it is refused. Afterwards every table's rows are
counted on both sides and every key is checked unique (lake_schema.duplicate_keys).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pgy_pipeline.warehouse.db import Warehouse, WarehouseError
from pgy_pipeline.warehouse.engagement import KOL_ENGAGEMENT_COMMENTS, _apply_comments
from pgy_pipeline.warehouse.lake import LakeWarehouse, attach_statements, redact
from pgy_pipeline.warehouse.lake_schema import duplicate_keys

_SOURCE = "pgy_source"
# Bookkeeping of the schema, which the target already has for itself.
_OWN = {"schema_version", "schema_views"}
# Recomputed from the others by every engagement run: copied as it stands, with its COMMENTs.
_DERIVED = "kol_engagement"


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
            for table in _tables(conn):
                rows[table] = _copy(conn, table)
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


def _tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' ORDER BY 1",
        [_SOURCE],
    ).fetchall()
    return [r[0] for r in rows if r[0] not in _OWN]


def _copy(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    if table == _DERIVED:
        conn.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {_SOURCE}.{table}")
        _apply_comments(conn, table, KOL_ENGAGEMENT_COMMENTS)
    else:
        conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {_SOURCE}.{table}")
    copied = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    there = conn.execute(f"SELECT count(*) FROM {_SOURCE}.{table}").fetchone()
    if copied != there:
        raise WarehouseError(f"{table}: {there} rows in the source, {copied} in the target")
    return int(copied[0]) if copied else 0
