"""Shared by the end-to-end tests: `pgy ui` (dagster dev) on a loopback port, and GraphQL calls."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
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


@contextlib.contextmanager
def pgy_ui(
    tmp_path: Path, sim: Simulator, cwd: Path = REPO, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`pgy ui` (webserver and daemon) on a loopback port against ``sim``, run in ``cwd`` (whose
    workspace.yaml it loads); yields its base URL and process, and kills it after."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k != "JUSTONEAPI_TOKEN"}
    full_env |= {
        "JUSTONEAPI_BASE_URL": sim.base_url,
        "PGY_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        **(env or {}),
    }
    log_path = tmp_path / "dagster_dev.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("pgy")), "ui", "--port", str(port)],
        cwd=cwd,
        env=full_env,
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
            assert proc.poll() is None, log_path.read_text(errors="replace")
            time.sleep(0.25)
        else:
            pytest.fail("dagster dev did not come up: " + log_path.read_text(errors="replace"))
        yield base, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    """One `pgy ui` for the tests of a module (starting it takes ~20 s)."""
    tmp_path = tmp_path_factory.mktemp("dagster_dev")
    sim = Simulator("clean", seed=7, anchor_date=ANCHOR, fixed_counts={"kol_e2e": 20, "kol_ui": 12})
    sim.start()
    try:
        with pgy_ui(tmp_path, sim) as (base, proc):
            yield base, sim, tmp_path, proc
    finally:
        sim.stop()
