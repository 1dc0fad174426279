"""A `pgy` process that died never keeps the API pool slot its run held."""

from __future__ import annotations

import fcntl
from pathlib import Path

import dagster as dg

from pgy_pipeline.cli.liveness import _MARKERS, PROCESS_TAG, reclaim_slots_of_dead_runs


@dg.op
def noop() -> None:
    pass


@dg.job
def a_job() -> None:
    noop()


def _run_holding_the_slot(instance: dg.DagsterInstance, marker: str) -> str:
    run = instance.create_run_for_job(a_job, tags={PROCESS_TAG: marker})
    claim = instance.event_log_storage.claim_concurrency_slot("justoneapi", run.run_id, "kol_notes")
    assert claim.is_claimed
    return run.run_id


def test_the_slot_of_a_dead_process_is_given_back_and_a_live_ones_kept(tmp_path: Path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots("justoneapi", 3)
        home = Path(instance.root_directory)
        (home / _MARKERS).mkdir(parents=True)
        # A process that died: its marker exists but nobody holds its lock.
        (home / _MARKERS / "111-dead.lock").write_text("")
        dead = _run_holding_the_slot(instance, "111-dead")
        # A process still running: its marker is locked (by another open file, as another process would).
        live_path = home / _MARKERS / "222-live.lock"
        with open(live_path, "w") as live:
            fcntl.flock(live, fcntl.LOCK_EX)
            alive = _run_holding_the_slot(instance, "222-live")
            # A run the daemon or the UI launched: no marker, never touched.
            foreign = instance.create_run_for_job(a_job).run_id
            assert instance.event_log_storage.claim_concurrency_slot(
                "justoneapi", foreign, "kol_notes"
            ).is_claimed

            assert reclaim_slots_of_dead_runs(instance, home) == [dead]

            holders = instance.event_log_storage.get_concurrency_run_ids()
            assert dead not in holders and alive in holders and foreign in holders
            run = instance.get_run_by_id(dead)
            assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
            assert not (home / _MARKERS / "111-dead.lock").exists()
