"""End to end: `pgy ui` (dagster dev) on loopback, a run launched through GraphQL as the UI does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline_tests.conftest import ANCHOR, expected_frame, stored_frame

REPO = Path(__file__).resolve().parents[1]
LOCATION = "pgy_pipeline"

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""
ADD_PARTITION = """
mutation Add($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on PythonError { message }
  }
}
"""
RUN_STATUS = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gql(base: str, query: str, variables: dict) -> dict:
    r = requests.post(f"{base}/graphql", json={"query": query, "variables": variables}, timeout=30)
    r.raise_for_status()
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
def dagster_dev(tmp_path):
    sim = Simulator("clean", seed=7, anchor_date=ANCHOR, fixed_counts={"kol_e2e": 20})
    sim.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "JUSTONEAPI_TOKEN"}
    env |= {
        "JUSTONEAPI_BASE_URL": sim.base_url,
        "PGY_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    log = open(tmp_path / "dagster_dev.log", "wb")  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("pgy")), "ui", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/server_info", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, (tmp_path / "dagster_dev.log").read_text(errors="replace")
        time.sleep(0.25)
    else:
        pytest.fail(
            "dagster dev did not come up: " + (tmp_path / "dagster_dev.log").read_text(errors="replace")
        )
    try:
        yield base, sim, tmp_path, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        sim.stop()


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_a_run_launched_through_graphql_lands_in_duckdb_and_ctrl_c_stops_it(dagster_dev):
    base, sim, tmp_path, proc = dagster_dev
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
    added = gql(base, ADD_PARTITION, {"selector": selector, "name": "kols", "key": "kol_e2e"})
    assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess", added
    params = {
        "selector": {**selector, "jobName": "refresh_kols"},
        "runConfigData": {"ops": {"kol_notes": {"config": {"order_type": "MOST_READ"}}}},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "kol_e2e"}]},
    }
    launched = gql(base, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status = None
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        status = gql(base, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(0.5)
    assert status == "SUCCESS", (tmp_path / "dagster_dev.log").read_text(errors="replace")[-3000:]
    with Warehouse(tmp_path / "data").connect_snapshot() as conn:
        assert stored_frame(conn, "kol_e2e") == expected_frame(sim, "kol_e2e")
        assert conn.execute("SELECT order_type FROM fetches").fetchone() == ("MOST_READ",)
    # Ctrl-C (SIGINT to the process group, as a terminal sends it) stops webserver and daemon.
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) is not None
