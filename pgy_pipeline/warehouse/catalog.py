"""The warehouse's own description of itself: tables, columns, types and COMMENTs.

Read from an in-memory database built with the same migrations and SQL, so the
descriptions shown in the Dagster UI are exactly the ones analysts read in DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

import duckdb

from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
from pgy_pipeline.warehouse.migrations import migrate


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]


@cache
def catalog() -> dict[str, Table]:
    conn = duckdb.connect(":memory:")
    try:
        migrate(conn)
        refresh_kol_engagement(conn, date(2000, 1, 1))
        tables = {
            name: comment or ""
            for name, comment in conn.execute(
                "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'main' "
                "UNION ALL SELECT view_name, comment FROM duckdb_views() "
                "WHERE schema_name = 'main' AND NOT internal"
            ).fetchall()
        }
        cols = conn.execute(
            "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND NOT internal ORDER BY table_name, column_index"
        ).fetchall()
    finally:
        conn.close()
    out: dict[str, Table] = {}
    for name, description in tables.items():
        columns = tuple(Column(c, t, d or "") for tn, c, t, d in cols if tn == name)
        out[name] = Table(name, description, columns)
    return out
