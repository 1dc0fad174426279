"""The production instance configuration (deploy/dagster.yaml) against a real PostgreSQL server.

The test starts PostgreSQL from Debian's packages (initdb + pg_ctl as the `postgres` user,
on a loopback port), points DAGSTER_HOME at deploy/dagster.yaml, runs `pgy refresh`, and
reads the run back from PostgreSQL.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pgy_pipeline_tests.simulator_process import free_port, simulator_process

REPO = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _pg_user() -> str | None:
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        return None


pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists() or _pg_user() is None or os.geteuid() != 0,
    reason="needs Debian's postgresql package (initdb, pg_ctl, the postgres user) and root to switch user",
)


def _as_postgres(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, **kw)


@pytest.fixture
def postgres():
    # pytest's tmp_path is private to root; the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="pgy-pg-"))
    root.chmod(0o755)
    data, sock = root / "data", root / "sock"
    for d in (data, sock):
        d.mkdir()
        shutil.chown(d, "postgres")
    port = free_port()
    init = _as_postgres(
        [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"], timeout=120
    )
    assert init.returncode == 0, init.stderr
    start = _as_postgres(
        [
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(data / "log.txt"),
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -k {sock}",
            "start",
        ],
        timeout=120,
    )
    assert start.returncode == 0, start.stderr + start.stdout
    try:
        created = _as_postgres(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "dagster"],
            timeout=60,
        )
        assert created.returncode == 0, created.stderr
        yield port
    finally:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(300)
def test_a_refresh_runs_against_the_postgres_instance(tmp_path, postgres):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    data = tmp_path / "data"
    data.mkdir()
    (data / "kols.csv").write_text("user_id,label\npg_kol_a,A\npg_kol_b,B\n", encoding="utf-8")
    with simulator_process("clean", 4) as url:
        env = {k: v for k, v in os.environ.items() if k != "JUSTONEAPI_TOKEN"} | {
            "JUSTONEAPI_BASE_URL": url,
            "PGY_DATA_DIR": str(data),
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(postgres),
            "DAGSTER_PG_USER": "postgres",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": "dagster",
        }
        done = subprocess.run(
            [str(Path(sys.executable).with_name("pgy")), "refresh"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = _as_postgres(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(postgres),
            "-U",
            "postgres",
            "-d",
            "dagster",
            "-At",
            "-c",
            "SELECT pipeline_name, status FROM runs ORDER BY create_timestamp",
        ],
        timeout=60,
    )
    assert runs.returncode == 0, runs.stderr
    assert "refresh_kols|SUCCESS" in runs.stdout and "refresh_engagement|SUCCESS" in runs.stdout
    # Nothing of the instance went to SQLite files: it is all in PostgreSQL.
    assert not list(home.rglob("*.db"))
