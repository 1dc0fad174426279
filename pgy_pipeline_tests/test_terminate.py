"""Dagster's "Terminate" of a refresh run the daemon launched under `pgy ui` (dagster dev).

The roster sensor launches the first refresh of 16 new KOLs, as in production; the test
terminates it through the instance's GraphQL API, as the UI's button does. Dagster turns that
into SIGINT for the step's process (the run worker forwards it), where it must act as a Ctrl-C
of `pgy refresh` does (test_interrupts.py): no new call, what is complete written, the run
CANCELED with its account, no partition failed, the pool slot free, and the next run exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pgy_pipeline.defs.partitions import kol_partitions
from pgy_pipeline.defs.tags import decode_interrupt
from pgy_pipeline.refresh.outcomes import InterruptSummary
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline_tests.e2e_helpers import LAUNCH, LOCATION, RUN_STATUS, gql, pgy_ui
from pgy_pipeline_tests.interrupt_helpers import KOL_WORKERS, wait_until
from pgy_pipeline_tests.support import expected_frame, instance_at, stored_frame
from pgy_pipeline_tests.test_interrupts import HOLD_AFTER, SEED, SIM, USERS

pytestmark = pytest.mark.e2e

RUNS = """query { runsOrError(filter: {pipelineName: "refresh_kols"}) {
    ... on Runs { results { runId status tags { key value } } } } }"""
TERMINATE = """mutation Terminate($id: String!) { terminateRun(runId: $id) {
    __typename ... on PythonError { message } ... on TerminateRunFailure { message } } }"""
SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}


def _runs(base: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = gql(base, RUNS, {})["runsOrError"]["results"]
    return results


def _status(base: str, run_id: str) -> str:
    status: str = gql(base, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
    return status


def _step_said(home: Path, run_id: str, text: str) -> bool:
    """Whether the run's step wrote ``text`` on its stderr (Dagster's compute logs, written live)."""
    return any(text in p.read_text(errors="replace") for p in (home / "storage" / run_id).rglob("*.err"))


def _stored_pages(data: Path) -> set[tuple[str, int]]:
    raw = RawStore(data)
    return {(u, p) for u in USERS for f in raw.fetch_ids(u) for p in raw.pages(u, f)}


@pytest.mark.timeout(420)
def test_terminating_a_daemon_launched_refresh_stops_it_like_ctrl_c(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    data.mkdir()
    (data / "kols.csv").write_text("user_id,label\n" + "".join(f"{u},\n" for u in USERS), encoding="utf-8")
    with (
        Simulator("clean", seed=SEED, hold_after_calls=HOLD_AFTER, **SIM) as sim,
        pgy_ui(tmp_path, sim) as (base, _proc),
    ):
        # The roster sensor adds the partitions and launches their first refresh.
        wait_until(lambda: bool(_runs(base)), 180, "the roster sensor's refresh run")
        (run,) = _runs(base)
        run_id = run["runId"]
        wait_until(lambda: sim.counters().held >= KOL_WORKERS, 180, f"{KOL_WORKERS} calls held")
        at_signal = sim.counters()
        done = gql(base, TERMINATE, {"id": run_id})["terminateRun"]
        assert done["__typename"] == "TerminateRunSuccess", done
        wait_until(lambda: _step_said(home, run_id, "stopping."), 120, "the step to stop")
        assert sim.counters().calls_total == at_signal.calls_total
        sim.update(hold_after_calls=None)  # the calls in flight are answered; they are the last
        wait_until(lambda: _status(base, run_id) in ("SUCCESS", "FAILURE", "CANCELED"), 120, "the end")
        assert _status(base, run_id) == "CANCELED"
        end = sim.counters()
        assert end.calls_total == at_signal.calls_total, "a call started after the termination"
        assert (end.calls_total - end.held) - (at_signal.calls_total - at_signal.held) <= at_signal.held
        summary = _check_canceled_run(home, data, run_id, end.calls_total)
        assert summary.written + summary.partial + summary.not_started == len(USERS)
        _check_rerun_exact(base, data, sim)


def _check_canceled_run(home: Path, data: Path, run_id: str, calls: int) -> InterruptSummary:
    """The run's account is true, its slot is free, and it marks no partition failed."""
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    with Warehouse(data).connect_snapshot() as conn:
        written = {
            u for (u,) in conn.execute("SELECT user_id FROM fetches WHERE status = 'complete'").fetchall()
        }
    with instance_at(home) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        summary = decode_interrupt(run.tags)
        assert summary is not None
        assert run_id not in instance.event_log_storage.get_concurrency_run_ids()
        failures = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
        assert [
            r.event_log_entry.dagster_event.step_failure_data.user_failure_data.description for r in failures
        ] == [summary.describe()]
        value = get_and_update_asset_status_cache_value(
            instance, dg.AssetKey("notes"), kol_partitions, dynamic_partitions_loader=instance
        )
        assert value is not None
        assert set(value.deserialize_failed_partition_subsets(kol_partitions).get_partition_keys()) == set()
        assert (
            set(value.deserialize_materialized_partition_subsets(kol_partitions).get_partition_keys())
            == written
        )
    assert (summary.signal, summary.calls, summary.written) == ("SIGINT", calls, len(written))
    return summary


def _check_rerun_exact(base: str, data: Path, sim: Simulator) -> None:
    """A refresh of the same KOLs launched from the UI buys no stored page again; the data is exact."""
    stored = _stored_pages(data)
    before = dict(sim.counters().by_user_page)
    params = {
        "selector": {**SELECTOR, "jobName": "refresh_kols"},
        "runConfigData": {},
        "executionMetadata": {
            "tags": [
                {"key": "dagster/asset_partition_range_start", "value": USERS[0]},
                {"key": "dagster/asset_partition_range_end", "value": USERS[-1]},
            ]
        },
    }
    launched = gql(base, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    wait_until(lambda: _status(base, run_id) in ("SUCCESS", "FAILURE", "CANCELED"), 180, "the rerun")
    assert _status(base, run_id) == "SUCCESS"
    after = dict(sim.counters().by_user_page)
    assert set(after) == {(u, p) for u in USERS for p in (1, 2)}
    assert {k for k in stored if after[k] != before[k]} == set(), "a stored page was bought again"
    assert [n for n in after.values() if n != 1] == []
    with Warehouse(data).connect_snapshot() as conn:
        for u in USERS:
            assert stored_frame(conn, u) == expected_frame(sim, u), u
