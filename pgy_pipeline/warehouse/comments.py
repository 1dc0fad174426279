"""COMMENTs on the tables the engagement run builds: every table and column says what it is."""

from __future__ import annotations

import duckdb


def apply_comments(conn: duckdb.DuckDBPyConnection, table: str, comments: dict[str, str]) -> None:
    """``comments`` maps a column to its text; the key "" is the table's own comment."""
    for col, text in comments.items():
        target = f"TABLE {table}" if col == "" else f"COLUMN {table}.{col}"
        conn.execute(f"COMMENT ON {target} IS '{text.replace(chr(39), chr(39) * 2)}'")
