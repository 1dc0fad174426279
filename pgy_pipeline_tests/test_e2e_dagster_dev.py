"""End to end: `pgy ui` (dagster dev) on loopback, a run launched through GraphQL as the UI does."""

from __future__ import annotations

import os
import signal
import time

import pytest

from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline_tests.conftest import expected_frame, stored_frame
from pgy_pipeline_tests.e2e_helpers import ADD_PARTITION, LAUNCH, LOCATION, RUN_STATUS, dagster_dev, gql

__all__ = ["dagster_dev"]  # the fixture


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
