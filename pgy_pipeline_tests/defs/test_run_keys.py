"""Run keys as the daemon treats them: one run per (sensor, run key), ever.

A request is checked with the daemon's own dedup query (``fetch_existing_runs`` in
``dagster/_daemon/sensor.py``) against the sensor as a code location serves it, and runs are
launched with the tags the daemon gives them. `pgy retry` must agree with the daemon.
"""

from __future__ import annotations

import functools
import json

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.remote_representation.external import RemoteSensor
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.sensor import fetch_existing_runs

from pgy_pipeline.cli import runner
from pgy_pipeline.defs.partitions import KOLS_PARTITIONS_NAME
from pgy_pipeline.defs.sensors import kol_retry_sensor, kol_roster_sensor
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.support import MakeEnv

RETRY = "kol_retry_sensor"
ROSTER = "kol_roster_sensor"


@functools.cache
def _remote_sensor(name: str) -> RemoteSensor:
    """The sensor as the daemon sees it: from the code location, loaded in this process."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="pgy_pipeline.defs.definitions", attribute="defs"),
        location_name="pgy_pipeline",
    )
    location = origin.create_location(dg.DagsterInstance.ephemeral())
    return location.get_repository("__repository__").get_sensor(name)


def daemon_would_skip(instance: dg.DagsterInstance, sensor: str, request: dg.RunRequest) -> bool:
    """True when the sensor daemon would launch nothing for ``request`` (its key has a run)."""
    return request.run_key in fetch_existing_runs(instance, _remote_sensor(sensor), [request])


def _daemon_tags(sensor: str, request: dg.RunRequest) -> dict[str, str]:
    return {**request.tags, RUN_KEY_TAG: str(request.run_key), SENSOR_NAME_TAG: sensor}


def _retry_requests(env) -> list[dg.RunRequest]:
    tick = kol_retry_sensor(dg.build_sensor_context(instance=env.instance, resources={"pgy": env.pgy}))
    return list(tick.run_requests or []) if isinstance(tick, dg.SensorResult) else []


def _launch_as_daemon(env, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    job = env.defs.resolve_job_def("refresh_kols")
    return job.execute_in_process(
        instance=env.instance,
        partition_key=request.partition_key,
        run_config=request.run_config,
        tags=_daemon_tags(RETRY, request),
        raise_on_error=False,
    )


def test_every_failure_episode_of_a_kol_is_retried_by_the_daemon(make_env: MakeEnv):
    env = make_env(
        fixed_counts={"flaky_kol": 9}, user_codes={"flaky_kol": 301}, pgy={"retry_cooldown_s": 0.0}
    )
    keys = []
    for episode in (1, 2, 3):
        env.sim.update(user_codes={"flaky_kol": 301})
        assert not env.refresh(["flaky_kol"])[0].success  # a new episode: attempts count from 1 again
        (request,) = _retry_requests(env)
        assert [r.run_key for r in _retry_requests(env)] == [
            request.run_key
        ]  # the same failure, the same key
        assert not daemon_would_skip(env.instance, RETRY, request), (
            f"episode {episode}: the daemon skips {request.run_key}, launched for an earlier episode"
        )
        env.sim.update(user_codes={})  # the API recovers; the daemon launches the retry
        assert _launch_as_daemon(env, request).success
        assert PipelineState(env.data_dir).failure("flaky_kol") is None
        # Launched once: the daemon would not launch this key again.
        assert daemon_would_skip(env.instance, RETRY, request)
        keys.append(request.run_key)
    assert len(set(keys)) == 3


def test_a_retry_that_fails_again_gets_a_new_key_in_the_same_episode(make_env: MakeEnv):
    env = make_env(
        fixed_counts={"flaky_kol": 9}, user_codes={"flaky_kol": 500}, pgy={"retry_cooldown_s": 0.0}
    )
    env.refresh(["flaky_kol"])
    (first,) = _retry_requests(env)
    assert not _launch_as_daemon(env, first).success  # still 500: the second attempt fails
    (second,) = _retry_requests(env)
    assert second.run_key != first.run_key and not daemon_would_skip(env.instance, RETRY, second)
    assert second.tags["pgy/retry_episode"] == first.tags["pgy/retry_episode"] == "1"
    assert second.tags["pgy/retry_attempt"] == "3"


def test_pgy_retry_never_runs_a_retry_the_daemon_launched(make_env: MakeEnv):
    env = make_env(
        fixed_counts={"flaky_kol": 9}, user_codes={"flaky_kol": 301}, pgy={"retry_cooldown_s": 0.0}
    )
    env.refresh(["flaky_kol"])
    (request,) = _retry_requests(env)
    # The daemon has launched this retry; its run is still going.
    env.instance.add_run(
        dg.DagsterRun(
            job_name="refresh_kols", tags=_daemon_tags(RETRY, request), status=dg.DagsterRunStatus.STARTED
        )
    )
    env.sim.update(user_codes={})
    env.sim.reset_counters()
    assert runner.run_due_retries(env.defs, env.instance) == []
    assert env.sim.counters().calls_total == 0


def test_pgy_retry_runs_every_episode_and_the_daemon_would_not_run_them_again(make_env: MakeEnv):
    env = make_env(fixed_counts={"flaky_kol": 9}, pgy={"retry_cooldown_s": 0.0})
    for _episode in (1, 2):
        env.sim.update(user_codes={"flaky_kol": 301})
        env.refresh(["flaky_kol"])
        (request,) = _retry_requests(env)
        env.sim.update(user_codes={})
        (run,) = runner.run_due_retries(env.defs, env.instance)
        assert run.success and PipelineState(env.data_dir).failure("flaky_kol") is None
        assert daemon_would_skip(env.instance, RETRY, request)
        assert env.instance.get_run_by_id(run.run_id).tags[SENSOR_NAME_TAG] == RETRY


def _roster_tick(env, cursor: str | None, last_tick: float | None) -> dg.SensorResult:
    # What the daemon passes: the cursor and the time of the sensor's previous tick.
    context = dg.SensorEvaluationContext(
        instance_ref=None,
        last_tick_completion_time=last_tick,
        last_run_key=None,
        cursor=cursor,
        log_key=None,
        repository_name=None,
        instance=env.instance,
        resources={"pgy": env.pgy},
    )
    result = kol_roster_sensor(context)
    assert isinstance(result, dg.SensorResult)
    for req in result.dynamic_partitions_requests or []:  # as the daemon applies them
        if isinstance(req, dg.AddDynamicPartitionsRequest):
            env.instance.add_dynamic_partitions(KOLS_PARTITIONS_NAME, list(req.partition_keys))
        else:
            for key in req.partition_keys:
                env.instance.delete_dynamic_partition(KOLS_PARTITIONS_NAME, key)
    return result


def test_a_kol_removed_from_the_roster_and_added_back_gets_its_first_refresh_again(make_env: MakeEnv):
    env = make_env()
    roster = env.data_dir / "kols.csv"
    roster.write_text("user_id\nkol_a\n", encoding="utf-8")
    added = _roster_tick(env, None, 1000.0)
    (first,) = added.run_requests
    env.instance.add_run(
        dg.DagsterRun(
            job_name="refresh_kols", tags=_daemon_tags(ROSTER, first), status=dg.DagsterRunStatus.SUCCESS
        )
    )
    assert daemon_would_skip(env.instance, ROSTER, first)
    roster.write_text("user_id\n", encoding="utf-8")
    removed = _roster_tick(env, added.cursor, 1030.0)
    assert json.loads(removed.cursor) == [] and not removed.run_requests
    roster.write_text("user_id\nkol_a\n", encoding="utf-8")
    (again,) = _roster_tick(env, removed.cursor, 1060.0).run_requests
    assert not daemon_would_skip(env.instance, ROSTER, again), f"{again.run_key} repeats {first.run_key}"
