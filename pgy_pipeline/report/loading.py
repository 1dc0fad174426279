"""Reading the report's rows (queries.py names them): what the index needs of every KOL once
(``load_summary``), what only a KOL's page shows for a group of KOLs at a time (``load_details``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import duckdb

from pgy_pipeline.report.queries import (
    BRANDS,
    CADENCE,
    ENGAGEMENT_SQL,
    FIGURES,
    HISTORY,
    LATEST_FETCH_SQL,
    LEADERBOARD_SQL,
    LIVE_NOTES_SQL,
    NOTES,
    ORGANIC_VS_COOPERATION,
    ROSTER_SQL,
    SUMMARY_FIGURES,
    TOP_NOTES_READ,
    PerKol,
    ReportData,
    Row,
    as_rows,
)


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Row]:
    cur = conn.execute(sql, params)
    return as_rows([d[0] for d in cur.description or ()], cur.fetchall())


def _tuples_per_kol(
    conn: duckdb.DuckDBPyConnection, read: PerKol, kols: Sequence[str] | None
) -> tuple[tuple[str, ...], dict[str, list[tuple[Any, ...]]]]:
    """``read``'s column names, and its rows as tuples grouped by KOL, of ``kols`` only (None: every KOL)."""
    if kols is not None and not kols:
        return (), {}
    cur = conn.execute(*read.query(kols))
    names = tuple(d[0] for d in cur.description or ())
    at = names.index("user_id")
    out: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for values in cur.fetchall():
        out[values[at]].append(values)
    return names, dict(out)


def _per_kol(
    conn: duckdb.DuckDBPyConnection, read: PerKol, kols: Sequence[str] | None
) -> dict[str, list[Row]]:
    """``read``'s rows grouped by KOL, of ``kols`` only (None: every KOL)."""
    names, grouped = _tuples_per_kol(conn, read, kols)
    return {k: as_rows(names, rows) for k, rows in grouped.items()}


def _table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM (SELECT table_name AS name FROM duckdb_tables() WHERE schema_name = 'main' "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE schema_name = 'main') WHERE name = ?",
        [name],
    ).fetchone()
    return bool(row and row[0])


def load_summary(conn: duckdb.DuckDBPyConnection, only: set[str] | None = None) -> ReportData:
    """What the index shows of every KOL; ``only`` keeps the per-KOL figures of those KOLs."""
    latest = conn.execute(LATEST_FETCH_SQL).fetchone()
    has_engagement = _table_exists(conn, "kol_engagement")
    leaderboard = _rows(conn, LEADERBOARD_SQL)
    data = ReportData(
        roster={r["user_id"]: r for r in _rows(conn, ROSTER_SQL)},
        leaderboard=leaderboard,
        ranked={r["user_id"]: r for r in leaderboard},
        latest_fetch=latest[0] if latest else None,
    )
    if has_engagement:
        data.engagement = {r["user_id"]: r for r in _rows(conn, ENGAGEMENT_SQL)}
    data.live_notes = {r["user_id"]: r["notes"] for r in _rows(conn, LIVE_NOTES_SQL)}
    # Written by the same engagement run as kol_engagement: all there, or (before it ran) none.
    if has_engagement and _table_exists(conn, "rising_notes"):
        some = sorted(only) if only is not None else None
        data.figures = {name: _per_kol(conn, FIGURES[name], some) for name in SUMMARY_FIGURES}
    return data


def detail_reads(data: ReportData) -> list[PerKol]:
    """Every read ``load_details`` makes for ``data`` (the page-only figures once they exist)."""
    figures = [FIGURES[name] for name in FIGURES if name not in SUMMARY_FIGURES] if data.figures else []
    return [ORGANIC_VS_COOPERATION, NOTES, TOP_NOTES_READ, CADENCE, HISTORY, BRANDS, *figures]


def load_details(conn: duckdb.DuckDBPyConnection, data: ReportData, kols: Sequence[str]) -> None:
    """Read into ``data`` what the pages of ``kols`` show beyond the summary, replacing the rows
    of the KOLs read before (a group at a time keeps the report's memory bounded)."""
    data.organic_vs_cooperation = _per_kol(conn, ORGANIC_VS_COOPERATION, kols)
    data.note_columns, data.notes = _tuples_per_kol(conn, NOTES, kols)
    data.top_notes = _per_kol(conn, TOP_NOTES_READ, kols)
    data.cadence = _per_kol(conn, CADENCE, kols)
    data.history = _per_kol(conn, HISTORY, kols)
    data.brands = _per_kol(conn, BRANDS, kols)
    if data.figures:
        for name in FIGURES.keys() - set(SUMMARY_FIGURES):
            data.figures[name] = _per_kol(conn, FIGURES[name], kols)


def load(conn: duckdb.DuckDBPyConnection, only: set[str] | None = None) -> ReportData:
    """Everything the report shows, at once; ``only`` keeps the per-KOL rows of those KOLs."""
    data = load_summary(conn, only)
    load_details(conn, data, sorted(only) if only is not None else sorted(data.roster))
    return data
