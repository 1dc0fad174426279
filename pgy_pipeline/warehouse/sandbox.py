"""What SQL we did not write (``pgy query``) may do: read, and nothing else.

The connection does most of it (db.py and lake.py: read-only, no file or network access of its
own, configuration locked). On a lake that is not enough: its catalog is a database the
extension can attach again read-write, and DuckDB lets a locked-down connection ATTACH. So the
statements themselves are checked first, the same way on both backends: only queries.
"""

from __future__ import annotations

import duckdb

from pgy_pipeline.warehouse.db import WarehouseError

READS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def check_reads_only(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    """WarehouseError naming the first statement of ``sql`` that is not a query."""
    try:
        statements = conn.extract_statements(sql)
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {exc}") from None
    for st in statements:
        if st.type not in READS:
            kind = st.type.name.replace("_STATEMENT", "")
            raise WarehouseError(
                f"pgy query only reads: {kind} statements are refused (the warehouse is the pipeline's; "
                f"keep your own tables in your own database and ATTACH the warehouse read-only)"
            )
