"""End to end under `dagster-daemon`: every 301 episode of a KOL is retried by the retry sensor.

`pgy ui` (dagster dev: webserver and daemon) serves `daemon_location.py`, the pipeline's own
definitions with a retry sensor the daemon evaluates at each pass and a 2 s cooldown. A KOL
fails with 301, the daemon's retry sensor re-launches it, it recovers; three times over. The
daemon launches one run per run key and sensor, ever: a key that repeated across episodes
would leave the second episode unretried. Runs launched through GraphQL (as the UI launches
them) and by the daemon both follow PGY_RATE_LIMIT_PER_S.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.e2e_helpers import ADD_PARTITION, LAUNCH, LOCATION, REPO, RUN_STATUS, gql, pgy_ui
from pgy_pipeline_tests.support import ANCHOR

pytestmark = pytest.mark.e2e

KOL = "kol_episodes"
SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
WORKSPACE = f"""\
load_from:
  - python_module:
      module_name: pgy_pipeline_tests.daemon_location
      location_name: {LOCATION}
      working_directory: {REPO}
"""
RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) {
    ... on Runs { results { runId status tags { key value } } } } }"""


def _wait_for(what: str, check: Callable[[], Any], log: Path, timeout_s: float = 180) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what``, with the server's log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {timeout_s:.0f} s\n{log.read_text(errors='replace')[-3000:]}")


def _ended(base: str, run_id: str) -> str | None:
    status = gql(base, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
    return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None


def _retry_runs(base: str) -> list[dict[str, Any]]:
    flt = {"tags": [{"key": "dagster/sensor_name", "value": "kol_retry_sensor"}]}
    return gql(base, RUNS, {"filter": flt})["runsOrError"]["results"]


def _new_success(base: str, seen: frozenset[str]) -> dict[str, Any] | None:
    """A retry run launched by the daemon, not among ``seen``, that succeeded."""
    return next((r for r in _retry_runs(base) if r["runId"] not in seen and r["status"] == "SUCCESS"), None)


def _failure_of(state: PipelineState, run_id: str) -> bool:
    failure = state.failure(KOL)
    return failure is not None and failure.last_run_id == run_id


def _tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


@pytest.mark.timeout(900)
def test_every_301_episode_of_a_kol_is_retried_under_the_daemon(tmp_path) -> None:
    workspace = tmp_path / "location"
    workspace.mkdir()
    (workspace / "workspace.yaml").write_text(WORKSPACE, encoding="utf-8")
    sim = Simulator("clean", seed=7, anchor_date=ANCHOR, fixed_counts={KOL: 9})
    sim.start()
    try:
        with pgy_ui(tmp_path, sim, cwd=workspace, env={"PGY_RATE_LIMIT_PER_S": "400"}) as (base, _proc):
            log = tmp_path / "dagster_dev.log"
            added = gql(base, ADD_PARTITION, {"selector": SELECTOR, "name": "kols", "key": KOL})
            assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess", added
            state = PipelineState(tmp_path / "data")
            retried: set[str] = set()
            for episode in (1, 2, 3):
                sim.update(user_codes={KOL: 301})
                params = {
                    "selector": {**SELECTOR, "jobName": "refresh_kols"},
                    "runConfigData": {},
                    "executionMetadata": {"tags": [{"key": "dagster/partition", "value": KOL}]},
                }
                launched = gql(base, LAUNCH, {"params": params})["launchRun"]
                assert launched["__typename"] == "LaunchRunSuccess", launched
                run_id = launched["run"]["runId"]
                # The API recovers once this run has recorded the failure (its retry is due 2 s later).
                _wait_for(
                    f"episode {episode}: the failure of run {run_id}",
                    functools.partial(_failure_of, state, run_id),
                    log,
                )
                sim.update(user_codes={})
                ended = _wait_for(f"run {run_id} ends", functools.partial(_ended, base, run_id), log)
                assert ended == "FAILURE"
                retry = _wait_for(
                    f"episode {episode}: a retry launched by the daemon succeeds",
                    functools.partial(_new_success, base, frozenset(retried)),
                    log,
                )
                retried |= {r["runId"] for r in _retry_runs(base)}
                tags = _tags(retry)
                assert tags["pgy/trigger"] == "retry" and tags["dagster/partition"] == KOL
                assert tags["pgy/retry_episode"] == str(episode)
                assert tags["pgy/rate_limit_per_s"] == "400"
                assert state.failure(KOL) is None
            first = gql(base, RUNS, {"filter": {"runIds": [run_id]}})["runsOrError"]["results"][0]
            assert _tags(first)["pgy/rate_limit_per_s"] == "400"  # launched as the UI launches
    finally:
        sim.stop()
