"""The warehouse's own description of itself: tables, columns, types and COMMENTs.

Read from an in-memory database built with the same migrations and SQL, so the
descriptions shown in the Dagster UI are exactly the ones analysts read in DuckDB.

Building it takes ~0.45 s, paid by every process that loads the definitions (each `pgy`
command before its first call, each run worker, the UI's code server). So the result is kept
in the user's cache directory under a key made of the code it is built from (this package's
Python and SQL) and the DuckDB version: a changed migration or comment is a new key, never a
stale answer. A cache that cannot be read or written is built around, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import date
from functools import cache
from pathlib import Path

import duckdb

from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
from pgy_pipeline.warehouse.migrations import migrate

STALE_AFTER_S = 7 * 86400  # a cache file of another code version, written this long ago, is removed


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
    """Every table and view of the warehouse, by name (from the cache when the code is unchanged)."""
    try:
        path = _cache_path()
    except RuntimeError:  # no home directory to find a cache in (an anonymous container user)
        return build_catalog()
    try:
        return _decode(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or unreadable: build it
    built = build_catalog()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps([asdict(t) for t in built.values()], ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        cutoff = time.time() - STALE_AFTER_S
        for other in path.parent.glob("catalog-*.json"):  # other code versions', unused for a week
            if other != path and other.stat().st_mtime < cutoff:
                other.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only home: build it again next time
    return built


def _cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "pgy-pipeline" / f"catalog-{code_key(Path(__file__).parent)}.json"


def code_key(package: Path) -> str:
    """A digest of the Python and SQL under ``package`` and of the DuckDB version."""
    digest = hashlib.blake2b(duckdb.__version__.encode(), digest_size=16)
    for source in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".sql")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _decode(tables: list[dict[str, object]]) -> dict[str, Table]:
    out = {}
    for t in tables:
        columns = t["columns"]
        if not isinstance(columns, list):
            raise TypeError("columns")
        out[str(t["name"])] = Table(
            str(t["name"]), str(t["description"]), tuple(Column(**c) for c in columns)
        )
    if not out:
        raise ValueError("an empty catalog")
    return out


def build_catalog() -> dict[str, Table]:
    """The catalog as the migrations and the engagement SQL make it, in an in-memory database."""
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
