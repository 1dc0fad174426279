"""The production instance configuration (deploy/dagster.yaml) against a real PostgreSQL server.

The test uses the shared PostgreSQL server of the tests (pg_server.py: Debian's packages, on a
loopback port), points DAGSTER_HOME at deploy/dagster.yaml, runs `pgy refresh`, and
reads the run back from PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pgy_pipeline_tests import pg_server
from pgy_pipeline_tests.simulator_process import simulator_process

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def postgres(pg_port):
    return pg_port, pg_server.create_database(pg_port)


@pytest.mark.timeout(300)
def test_a_refresh_runs_against_the_postgres_instance(tmp_path, postgres):
    port, db = postgres
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
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_USER": "postgres",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": db,
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
    runs = pg_server.as_postgres(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            db,
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
