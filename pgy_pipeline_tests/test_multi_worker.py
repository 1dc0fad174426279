"""The deployment as it runs on a cluster, on this machine: run workers that share no disk.

- PostgreSQL (a real server on loopback) holds the Dagster instance, the DuckLake catalog and
  the pipeline's state (in the instance's database, schema ``pgy``).
- An S3-compatible server (moto, real HTTP on loopback) holds the raw pages and the lake's
  Parquet files.
- ``dagster-daemon`` runs the queued run coordinator (2 concurrent runs) with a launcher that
  starts every run as K8sRunLauncher would: its own process, its own empty working directory
  and data dir, its own DAGSTER_HOME holding only dagster.yaml (isolated_launcher.py).
- Two refreshes of disjoint halves of a roster are launched at once (``dagster job launch``,
  as an operator would), while an analyst reads the lake in a loop.

Afterwards: the runs overlapped, the warehouse equals the simulator's truth KOL by KOL, every
call was counted once in the one shared budget ledger, the reader never failed, and nothing
was written to any run's local disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pgy_pipeline.defs.partitions import KOLS_PARTITIONS_NAME, range_tags
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse.lake import LakeConfig, LakeWarehouse, connect_lake
from pgy_pipeline.warehouse.lake_schema import duplicate_keys
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests import pg_server, s3_server
from pgy_pipeline_tests.simulator_process import counters, simulator_process
from pgy_pipeline_tests.support import expected_frame, stored_frame

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KOLS = [f"5f00000000000000000000{i:02d}" for i in range(16)]
SEED = 21
COUNTS = {kol: 3 + 4 * i for i, kol in enumerate(KOLS)}  # 3 to 63 notes: 1 to 8 pages each
BUDGET = 5000
_START = next(iter(range_tags("", "")))  # the run tag naming the first KOL of its range

INSTANCE_YAML = """
storage:
  postgres:
    postgres_db:
      hostname: {{ env: DAGSTER_PG_HOST }}
      port: {{ env: DAGSTER_PG_PORT }}
      username: {{ env: DAGSTER_PG_USER }}
      password: {{ env: DAGSTER_PG_PASSWORD }}
      db_name: {{ env: DAGSTER_PG_DB }}
      scheme: postgresql+psycopg2
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
run_launcher:
  module: pgy_pipeline_tests.isolated_launcher
  class: IsolatedProcessRunLauncher
  config:
    work_root: {work_root}
    instance_yaml: {instance_yaml}
concurrency:
  runs:
    max_concurrent_runs: 2
  pools:
    default_limit: 2
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
telemetry:
  enabled: false
"""


class Reader(threading.Thread):
    """An analyst reading the lake in a loop, as a BI tool does: one read-only attach, queried again
    and again (each query sees the latest commit), attached afresh every 20 reads."""

    def __init__(self, cfg: LakeConfig) -> None:
        super().__init__(daemon=True)
        self.cfg, self.reads = cfg, 0
        self.errors: list[str] = []
        self.seen: set[Any] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None or self.reads % 20 == 0:
                    if conn is not None:
                        conn.close()
                    conn = connect_lake(self.cfg, read_only=True)
                self.seen.add(conn.execute("SELECT count(*) FROM notes").fetchone()[0])
                conn.execute("SELECT count(*) FROM kol_leaderboard").fetchone()
                self.reads += 1
            except Exception as exc:  # any failure is what the test counts
                self.errors.append(repr(exc))
                conn = None
            time.sleep(0.05)
        if conn is not None:
            conn.close()


def _wait_for(what, predicate, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.timeout(600)  # ~1 minute on an idle machine; far more when the machine is shared
def test_two_runs_on_workers_that_share_no_disk_fill_the_lake_exactly(
    pg_port, s3_endpoint, tmp_path, monkeypatch
):
    instance_db, lake_db = pg_server.create_database(pg_port), pg_server.create_database(pg_port)
    bucket = s3_server.make_bucket(s3_endpoint)
    work_root, home = tmp_path / "workers", tmp_path / "daemon_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        INSTANCE_YAML.format(work_root=work_root, instance_yaml=home / "dagster.yaml"), encoding="utf-8"
    )
    lake_url = f"ducklake:postgres:{pg_server.pg_conninfo(pg_port, lake_db)}"
    with simulator_process("clean", SEED, {"fixed_counts": COUNTS}) as api_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUSTONEAPI_", "PGY_"))} | {
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(pg_port),
            "DAGSTER_PG_USER": "postgres",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": instance_db,
            "JUSTONEAPI_BASE_URL": api_url,
            "PGY_WAREHOUSE_URL": lake_url,
            "PGY_LAKE_DATA_PATH": f"s3://{bucket}/lake/",
            "PGY_RAW_URL": f"s3://{bucket}/raw",
            "PGY_STATE_URL": pg_server.pg_url(pg_port, instance_db),  # the instance's own database
            "PGY_DAILY_CALL_BUDGET": str(BUDGET),
            **s3_server.env(s3_endpoint),
        }
        for key in (
            "DAGSTER_PG_HOST",
            "DAGSTER_PG_PORT",
            "DAGSTER_PG_USER",
            "DAGSTER_PG_PASSWORD",
            "DAGSTER_PG_DB",
        ):
            monkeypatch.setenv(key, env[key])  # this process opens the instance too
        lake = LakeConfig(
            lake_url.removeprefix("ducklake:"), f"s3://{bucket}/lake/", s3_server.config(s3_endpoint)
        )
        LakeWarehouse(lake).ensure()  # the lake's schema, as the deployment's first step makes it
        reader = Reader(lake)
        reader.start()
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions(KOLS_PARTITIONS_NAME, KOLS)
            _submit(instance, [KOLS[:8], KOLS[8:]])  # queued: no daemon runs yet
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            runs = _finished_runs(home, 2)
            reader.stop.set()
        finally:
            reader.stop.set()
            daemon.terminate()
            daemon.wait(30)
        calls = counters(api_url)["calls_total"]
    reader.join(10)

    assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
    (a, b) = runs
    assert a.start_time < b.end_time and b.start_time < a.end_time  # they ran at the same time
    assert [tuple(r.dagster_run.tags[t] for t in range_tags("", "")) for r in runs] == [
        (KOLS[0], KOLS[7]),
        (KOLS[8], KOLS[15]),
    ]
    truth = Simulator("clean", seed=SEED, fixed_counts=COUNTS)
    with connect_lake(lake, read_only=True) as conn:
        for kol in KOLS:
            assert stored_frame(conn, kol) == expected_frame(truth, kol), kol
        assert duplicate_keys(conn) == {}
        ledger = conn.execute("SELECT count(*), count(DISTINCT run_id) FROM api_calls").fetchone()
    spent = PipelineState(tmp_path / "anywhere", url=env["PGY_STATE_URL"]).spent()
    assert ledger == (calls, 2) and spent == calls <= BUDGET  # one ledger for both workers
    assert reader.reads > 0 and reader.errors == [], reader.errors[:3]
    workers = sorted(work_root.glob("run-*"))
    assert len(workers) == 2 and all(not any(w.iterdir()) for w in workers)  # nothing on local disk
    assert not (tmp_path / "data").exists()


def _submit(instance: dg.DagsterInstance, halves: list[list[str]]) -> None:
    """Queue one refresh run per half, as `dagster job launch` does (one code location load for both)."""
    from dagster import __version__
    from dagster._cli.job import _create_run
    from dagster._cli.workspace.cli_target import (
        WorkspaceOpts,
        get_code_location_from_workspace,
        get_remote_job_from_remote_repo,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )

    opts = WorkspaceOpts(workspace=[str(REPO / "workspace.yaml")])
    with get_workspace_from_cli_opts(instance, __version__, opts) as workspace:
        location = get_code_location_from_workspace(workspace, None)
        repo = get_remote_repository_from_code_location(location, None)
        job = get_remote_job_from_remote_repo(repo, "refresh_kols")
        # Only these two runs: the roster, retry and automation sensors and the schedule are off.
        for sensor in repo.get_sensors():
            instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
        for schedule in repo.get_schedules():
            instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
        for half in halves:
            run = _create_run(
                instance=instance,
                code_location=location,
                remote_repo=repo,
                remote_job=job,
                # One process per run worker (the multiprocess executor would start a second one
                # for the step): the test pays for Dagster's start-ups, not for the pipeline.
                run_config={"execution": {"config": {"in_process": {}}}},
                tags=range_tags(half[0], half[-1]),
                op_selection=None,
                run_id=None,
            )
            instance.submit_run(run.run_id, workspace)


def _finished_runs(home: Path, n: int) -> list:
    with dg.DagsterInstance.from_config(str(home)) as instance:

        def done() -> list | None:
            finished = [r for r in instance.get_run_records() if r.dagster_run.is_finished]
            return finished if len(finished) >= n else None

        return sorted(_wait_for("two finished runs", done, 300), key=lambda r: r.dagster_run.tags[_START])
