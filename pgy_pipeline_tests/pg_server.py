"""A real PostgreSQL server for the tests, started from the distribution's packages on loopback.

Debian puts the server binaries under ``/usr/lib/postgresql/<major>/bin`` (not on PATH); the
newest major found is used. The server runs as the ``postgres`` user (initdb refuses root), in a
temp dir, with trust authentication on 127.0.0.1 and an ephemeral port. ``.ci/run`` installs the
``postgresql`` package when it is missing, so these tests run in CI rather than skip.
"""

from __future__ import annotations

import contextlib
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from pgy_pipeline_tests.simulator_process import free_port


def pg_bin() -> Path | None:
    """The newest PostgreSQL server's bin directory, or None when no server is installed."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name),
        reverse=True,
    )
    return found[0].parent if found else None


def unavailable() -> str | None:
    """Why a server cannot be started here (None when it can)."""
    import os

    if pg_bin() is None:
        return "needs the distribution's postgresql package (initdb, pg_ctl); .ci/run installs it"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "needs the postgres user (made by the postgresql package)"
    if os.geteuid() != 0:
        return "needs root to run the server as the postgres user"
    return None


def as_postgres(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, **kw)


@contextlib.contextmanager
def postgres_server() -> Iterator[int]:
    """Start a server; yields its port on 127.0.0.1 (user ``postgres``, no password)."""
    bin_dir = pg_bin()
    assert bin_dir is not None
    # pytest's tmp_path is private to root; the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="pgy-pg-"))
    root.chmod(0o755)
    data, sock = root / "data", root / "sock"
    for d in (data, sock):
        d.mkdir()
        shutil.chown(d, "postgres")
    port = free_port()
    init = as_postgres(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"], timeout=120
    )
    assert init.returncode == 0, init.stderr
    start = as_postgres(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(data / "log.txt"),
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -k {sock} -c max_connections=200 -c fsync=off",
            "start",
        ],
        timeout=120,
    )
    assert start.returncode == 0, start.stderr + start.stdout
    try:
        yield port
    finally:
        as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def create_database(port: int, name: str | None = None) -> str:
    """A new empty database on the server; returns its name."""
    import psycopg2

    name = name or f"t_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return name


def pg_url(port: int, db: str) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{db}"


def pg_conninfo(port: int, db: str) -> str:
    """The libpq key=value form (what DuckLake's postgres catalog takes)."""
    return f"dbname={db} host=127.0.0.1 port={port} user=postgres"
