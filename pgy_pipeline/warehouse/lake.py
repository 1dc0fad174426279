"""The warehouse on DuckLake: catalog in PostgreSQL (or SQLite on one host), Parquet data files
under a data path (a local folder or an S3-compatible bucket).

The same interface as the single-file ``Warehouse`` (db.py), so the refresh engine, the Dagster
assets and ``pgy`` do not know which one they write:

- **Writes.** Every commit is a DuckLake snapshot, visible at once to every reader on any host:
  nothing is copied to publish, so ``publish`` has nothing to do. Writers still go one at a
  time, as on one host: a write holds the lake's writer lock (``pg_advisory_lock`` in the
  catalog's PostgreSQL database, which every host shares; ``flock`` beside a SQLite catalog),
  so concurrent runs queue for a short group-commit transaction instead of failing with
  DuckLake's "Transaction conflict" and buying nothing twice. The lock is also what keeps the
  tables' keys unique, since DuckLake has no primary keys (lake_schema.py). Against writers that
  do not take it (an analyst's own session), DuckLake's bounded retry of a commit stays on
  (``ducklake_max_retry_count``, 10 attempts with growing waits); a conflict it cannot resolve
  fails the write, which the engine then retries KOL by KOL, like any failed group write.
- **Reads.** ``connect_snapshot`` attaches the lake READ_ONLY: each query sees the latest
  commit when its transaction starts, never half a write.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pgy_pipeline.s3 import S3Config
from pgy_pipeline.warehouse import extensions
from pgy_pipeline.warehouse.db import KeptEdit, WarehouseError, shielded_connection
from pgy_pipeline.warehouse.lake_upkeep import UpkeepResult, upkeep
from pgy_pipeline.warehouse.migrations import migrate
from pgy_pipeline.warehouse.transaction import transaction

log = logging.getLogger(__name__)

ALIAS = "lake"
# Any fixed number: the advisory lock all writers of a lake's catalog database take.
_WRITER_LOCK_KEY = 0x70677921

_PASSWORD = re.compile(r"(password\s*=\s*)(\S+)", re.IGNORECASE)
_S3_KEYS = re.compile(r"((?:SECRET|KEY_ID)\s+)'(?:[^']|'')*'", re.IGNORECASE)


def redact(text: str) -> str:
    """A libpq password and the bucket's keys, hidden wherever DuckDB's messages quote a statement."""
    return _S3_KEYS.sub(r"\1'***'", _PASSWORD.sub(r"\1***", text))


@dataclass(frozen=True)
class LakeConfig:
    """``catalog``: ``postgres:<libpq conninfo>`` or ``sqlite:<file>``; ``data_path``: a folder
    or ``s3://bucket/prefix/`` for the Parquet files."""

    catalog: str = field(repr=False)  # a conninfo may carry a password: never in a repr
    data_path: str = ""
    s3: S3Config | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.catalog.startswith(("postgres:", "sqlite:")):
            raise WarehouseError(
                "PGY_WAREHOUSE_URL must be ducklake:postgres:<conninfo> or ducklake:sqlite:<file>"
            )

    @property
    def kind(self) -> str:
        return self.catalog.split(":", 1)[0]

    @property
    def target(self) -> str:
        return self.catalog.split(":", 1)[1]

    @property
    def on_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    def describe(self) -> str:
        """Where the lake is, without a password (for messages and the README's examples)."""
        return f"DuckLake ({self.kind} catalog, data at {self.data_path})"

    def attach_sql(self, read_only: bool, alias: str = ALIAS) -> str:
        data = self.data_path if self.data_path.endswith("/") else self.data_path + "/"
        opts = f"DATA_PATH '{data}'" + (", READ_ONLY" if read_only else "")
        return f"ATTACH 'ducklake:{self.catalog}' AS {alias} ({opts})"


def attach_statements(cfg: LakeConfig, alias: str, read_only: bool) -> list[str]:
    """What a DuckDB connection runs to attach the lake as ``alias`` (extensions from our packages)."""
    names = ["ducklake", "postgres_scanner" if cfg.kind == "postgres" else "sqlite_scanner"]
    out = [f"LOAD '{extensions.extension_file(n)}'" for n in names + (["httpfs"] if cfg.on_s3 else [])]
    if cfg.on_s3:
        out.append((cfg.s3 or S3Config()).duckdb_secret_sql())
    return [*out, cfg.attach_sql(read_only, alias)]


def _sqlite_catalog_in_wal(path: Path) -> None:
    """A SQLite catalog in WAL mode (kept by the file): a reader between two statements then never
    makes a writer's COMMIT fail with "database is locked", as the default rollback journal does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        if db.execute("PRAGMA journal_mode").fetchone() != ("wal",):
            db.execute("PRAGMA journal_mode=WAL")


def connect_lake(
    cfg: LakeConfig,
    read_only: bool,
    config: dict[str, str | bool | int | float | list[str]] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached and in use (extensions from our packages)."""
    conn = duckdb.connect(config=extensions.NO_AUTOLOAD | (config or {}))
    try:
        if cfg.kind == "sqlite" and not read_only:
            _sqlite_catalog_in_wal(Path(cfg.target))
        for sql in attach_statements(cfg, ALIAS, read_only):
            conn.execute(sql)
        conn.execute(f"USE {ALIAS}")
    except duckdb.Error as exc:
        conn.close()
        raise WarehouseError(f"cannot attach the {cfg.describe()}: {redact(str(exc))}") from None
    except BaseException:
        conn.close()
        raise
    return conn


class LakeWarehouse:
    """The warehouse on DuckLake; method for method the interface of ``Warehouse``."""

    def __init__(self, cfg: LakeConfig, memory_limit: str = "512MB") -> None:
        self.cfg = cfg
        self.memory_limit = memory_limit
        self.kept_edits: list[KeptEdit] = []  # nothing is ever published over, so nothing is kept
        self._base: duckdb.DuckDBPyConnection | None = None
        self._migrated = False
        self._guard = threading.RLock()

    @property
    def location(self) -> str:
        return self.cfg.describe()

    def exists(self) -> bool:
        """True once the lake has the warehouse's tables."""
        try:
            with self.connect_snapshot() as conn:
                row = conn.execute(
                    "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                    "AND table_name = 'schema_version'"
                ).fetchone()
        except WarehouseError:
            return False
        return bool(row and row[0])

    # -- the writer lock ------------------------------------------------------------------

    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        with self._guard:
            if self.cfg.kind == "postgres":
                import psycopg2

                try:
                    pg = psycopg2.connect(self.cfg.target)
                except psycopg2.Error as exc:
                    raise WarehouseError(
                        f"cannot reach the lake's catalog database: {redact(str(exc))}"
                    ) from None
                try:
                    pg.autocommit = True
                    with pg.cursor() as cur:
                        cur.execute("SELECT pg_advisory_lock(%s)", (_WRITER_LOCK_KEY,))
                    yield  # closing the session releases the lock, also if this process dies
                finally:
                    pg.close()
            else:
                lock = Path(f"{self.cfg.target}.lock")
                lock.parent.mkdir(parents=True, exist_ok=True)
                with open(lock, "a+") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX)
                    yield

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of this process's lake instance (attached once), schema up to date."""
        if self._base is None:
            self._base = connect_lake(
                self.cfg,
                read_only=False,
                config={"memory_limit": self.memory_limit, "preserve_insertion_order": False},
            )
        cur = self._base.cursor()
        cur.execute(f"USE {ALIAS}")
        if not self._migrated:
            migrate(cur, lake=True)
            self._migrated = True
        return cur

    # -- writing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self, publish: bool | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction under the writer lock; committed, it is a snapshot every reader sees."""
        with self._writer_lock(), shielded_connection(self._cursor) as conn, transaction(conn):
            yield conn

    @contextlib.contextmanager
    def read_working(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The lake for the pipeline's own reads: a snapshot, no lock needed."""
        if not self._migrated:
            self.ensure()
        with self._guard:
            cursor = self._cursor()
        with shielded_connection(lambda: cursor) as conn:
            yield conn

    def ensure(self) -> None:
        with self._writer_lock():
            self._cursor().close()

    def upkeep(self, keep_days: int, grace_hours: int) -> UpkeepResult:
        """DuckLake's maintenance (lake_upkeep.py), under the writer lock: no run writes meanwhile."""
        with self._writer_lock(), shielded_connection(self._cursor) as conn:
            return upkeep(conn, ALIAS, keep_days, grace_hours)

    def publish(self) -> str:
        """Nothing to copy: every commit is already a snapshot readers see."""
        return self.location

    def publish_if_dirty(self) -> None:
        return None

    def kept_copies(self) -> list[Path]:
        return []

    def close(self) -> None:
        if self._base is not None:
            self._base.close()
            self._base = None

    # -- reading (analysts) ---------------------------------------------------------------

    def connect_snapshot(
        self, config: dict[str, str | bool | int | float | list[str]] | None = None
    ) -> duckdb.DuckDBPyConnection:
        return connect_lake(self.cfg, read_only=True, config=config)

    def connect_sandboxed(self) -> duckdb.DuckDBPyConnection:
        """The lake for SQL we did not write (``pgy query``), locked down once it is attached:
        no file or network access but to the lake's own data path (its Parquet files are read
        through the same file system as any other), no configuration changes;
        ``warehouse/sandbox.py`` refuses statements other than reads."""
        conn = self.connect_snapshot()
        conn.execute("SET allowed_directories = [?]", [self.cfg.data_path])
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        return conn
