"""Shared by the end-to-end tests: `pgy ui` (dagster dev) on a loopback port, and GraphQL calls."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pgy_pipeline.simulator import Simulator
from pgy_pipeline_tests.support import ANCHOR

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


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    """One `pgy ui` for the tests of a module (starting it takes ~20 s)."""
    tmp_path = tmp_path_factory.mktemp("dagster_dev")
    sim = Simulator("clean", seed=7, anchor_date=ANCHOR, fixed_counts={"kol_e2e": 20, "kol_ui": 12})
    sim.start()
    try:
        with running_dagster_dev(tmp_path, sim) as (base, proc):
            yield base, sim, tmp_path, proc
    finally:
        sim.stop()


@contextlib.contextmanager
def running_dagster_dev(tmp_path: Path, sim: Simulator) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`pgy ui` on a free loopback port over ``tmp_path``'s data and home, calling ``sim``."""
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
    try:
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
        yield base, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
