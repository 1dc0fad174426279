"""Running the pipeline's jobs now, in this process, on the persistent Dagster instance.

Used by ``pgy refresh`` and ``make run``: the runs are recorded in the same instance
(``DAGSTER_HOME``) as the UI's, so they show there with their events and metadata.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pgy_pipeline import settings
from pgy_pipeline.cli.instance_yaml import write_or_upgrade
from pgy_pipeline.cli.liveness import PROCESS_TAG, process_marker, reclaim_slots_of_dead_runs
from pgy_pipeline.defs.alerts import first_failure_message
from pgy_pipeline.defs.dagster_private import (
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
    complete_sqlite_storage,
    interrupted_error_name,
)
from pgy_pipeline.defs.jobs import ENGAGEMENT_JOB_NAME, REFRESH_JOB_NAME
from pgy_pipeline.defs.partitions import (
    KOLS_PARTITIONS_NAME,
    contiguous_ranges,
    keys_between,
    kols_tag,
    range_tags,
    roster_labels,
)
from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.defs.tags import TRIGGER_TAG, decode_interrupt
from pgy_pipeline.interrupts import Interrupt
from pgy_pipeline.refresh.outcomes import InterruptSummary

# The command line reports a run by its summary and failure message (see cli/refresh.py);
# Dagster's console logger would print each step failure with its stack trace before that.
# The events, traces included, stay in the run's event log; `pgy -v` turns the logger back on.
log = logging.getLogger(__name__)

QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to <data>/dagster_home so CLI runs and the UI share one instance."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str((settings.data_dir() / "dagster_home").resolve())
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    write_or_upgrade(Path(home) / "dagster.yaml")
    return Path(home)


def _touch_storages(instance: dg.DagsterInstance) -> None:
    """Use every storage once, so each creates its tables now (under the caller's lock)."""
    instance.get_runs(limit=1)
    instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME)
    instance.all_instigator_state()


def get_instance() -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME; its storage is created by one process at a time.

    Dagster creates a fresh instance's SQLite tables and stamps their schema version on
    first use. Two processes doing that at once (``make ui`` and ``pgy refresh`` started
    together, two refreshes on a fresh clone) race: "table runs already exists",
    "UNIQUE constraint failed: alembic_version". A lock file in DAGSTER_HOME makes the
    first use exclusive; once the tables exist, SQLite's own locking suffices.
    """
    home = ensure_dagster_home()
    with open(home / ".pgy-instance.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            try:
                _touch_storages(instance)
            except Exception:
                # A process killed during the first use can leave a SQLite file with some
                # tables missing; Dagster only creates tables for a file that does not exist
                # yet, so it would refuse this instance for good. Create what is missing.
                complete_sqlite_storage(instance)
                _touch_storages(instance)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    freed = reclaim_slots_of_dead_runs(instance, home)
    if freed:
        log.warning("gave back the pool slots of %d run(s) whose `pgy` process died: %s", len(freed), freed)
    return instance


def load() -> tuple[dg.Definitions, dg.DagsterInstance]:
    """The pipeline's definitions and the instance of DAGSTER_HOME, for a command that runs jobs."""
    from pgy_pipeline.defs.definitions import build_defs

    return build_defs(), get_instance()


def _marker_tag(instance: dg.DagsterInstance) -> dict[str, str]:
    """The tag that lets a later `pgy` tell whether this process still runs (liveness.py)."""
    return {PROCESS_TAG: process_marker(Path(instance.root_directory))}


@dataclass
class RunSummary:
    run_id: str
    first: str
    last: str
    success: bool
    failure: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    status: str = ""  # the run's Dagster status: SUCCESS, FAILURE, CANCELED
    # Set when SIGINT/SIGTERM ended the run: what it did (the step's tag), or None if the
    # run never reached the refresh (Dagster's own handler took the signal first).
    interrupted: InterruptSummary | None = None
    interrupted_early: bool = False  # the signal came before the refresh began: nothing bought


def interrupted_lines(runs: Sequence[RunSummary], signal_name: str) -> list[str]:
    """What an interrupted refresh bought and left, from each run's own account (its tag).

    One plain sentence when no call was bought: the signal came before the run began, or
    after it began but before its first call; the user's answer is the same.
    """
    told = [r.interrupted for r in runs if r.interrupted]
    if any(summary.calls for summary in told):
        return [summary.describe() for summary in told]
    return [f"Interrupted by {signal_name} before the first API call: nothing was bought."]


def add_partitions(instance: dg.DagsterInstance, user_ids: Sequence[str]) -> list[str]:
    existing = set(instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME))
    new = [u for u in dict.fromkeys(user_ids) if u not in existing]
    if new:
        instance.add_dynamic_partitions(KOLS_PARTITIONS_NAME, new)
    return new


def refresh(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    user_ids: Sequence[str],
    filters: Mapping[str, object] | None = None,
    tags: Mapping[str, str] | None = None,
    quiet: bool = True,
    one_off: Sequence[str] = (),
    interrupt: Interrupt | None = None,
) -> list[RunSummary]:
    """Run the refresh job for these KOLs: one run per contiguous range of partitions.

    KOLs in ``one_off`` get a partition for this refresh only: they are marked first, so the
    roster sensor never copies them into the roster, and removed after. Once ``interrupt`` is
    requested, or a run was interrupted, no further run starts.
    """
    state = _pgy(defs).state()
    known = set(instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME)) if one_off else set()
    extra = [u for u in dict.fromkeys(one_off) if u not in known]
    if extra:
        state.mark_one_off(extra)
    try:
        add_partitions(instance, user_ids)
        return _run_ranges(defs, instance, user_ids, filters, tags, quiet, interrupt or Interrupt())
    finally:
        for u in extra:
            instance.delete_dynamic_partition(KOLS_PARTITIONS_NAME, u)
        if extra:
            state.clear_one_off(extra)


def _pgy(defs: dg.Definitions) -> PgyResource:
    pgy = (defs.resources or {})["pgy"]
    assert isinstance(pgy, PgyResource)
    return pgy


def _run_ranges(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    user_ids: Sequence[str],
    filters: Mapping[str, object] | None,
    tags: Mapping[str, str] | None,
    quiet: bool,
    interrupt: Interrupt,
) -> list[RunSummary]:
    all_keys = instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME)
    job = defs.resolve_job_def(REFRESH_JOB_NAME)
    run_config: dict[str, object] = {"ops": {"kol_notes": {"config": dict(filters or {})}}}
    if quiet:
        run_config |= QUIET_LOGGERS
    labels = roster_labels(_pgy(defs).roster_path)
    out: list[RunSummary] = []
    for first, last in contiguous_ranges(user_ids, all_keys):
        if interrupt.requested or any(r.interrupted or r.interrupted_early for r in out):
            break
        named = kols_tag(keys_between(first, last, all_keys), labels)
        result = job.execute_in_process(
            instance=instance,
            run_config=run_config,
            tags={
                **range_tags(first, last),
                **named,
                TRIGGER_TAG: "cli",
                **(tags or {}),
                **_marker_tag(instance),
            },
            raise_on_error=False,
        )
        failure = None
        if not result.success:
            failure = _first_failure(result)
        run = instance.get_run_by_id(result.run_id)
        run_tags = run.tags if run else {}
        summary = RunSummary(result.run_id, first, last, result.success, failure, run_tags)
        summary.status = run.status.value if run else ""
        summary.interrupted = decode_interrupt(run_tags)
        if summary.interrupted is None:
            summary.interrupted_early = _interrupted_by_dagster(result)
        out.append(summary)
    return out


def _interrupted_by_dagster(result: dg.ExecuteInProcessResult) -> bool:
    """Dagster's own handler raised the interrupt (the signal came before the step's began)."""
    return any(
        e.is_step_failure
        and e.step_failure_data.error is not None
        and e.step_failure_data.error.cls_name in (interrupted_error_name(), "KeyboardInterrupt")
        for e in result.all_events
    )


def refresh_engagement(defs: dg.Definitions, instance: dg.DagsterInstance, quiet: bool = True) -> RunSummary:
    job = defs.resolve_job_def(ENGAGEMENT_JOB_NAME)
    result = job.execute_in_process(
        instance=instance,
        run_config=QUIET_LOGGERS if quiet else None,
        tags={TRIGGER_TAG: "cli", **_marker_tag(instance)},
        raise_on_error=False,
    )
    return RunSummary(
        result.run_id, "", "", result.success, None if result.success else _first_failure(result)
    )


def _first_failure(result: dg.ExecuteInProcessResult) -> str:
    message = first_failure_message([e for e in result.all_events if e.is_step_failure])
    return message or "the run failed (see the Dagster UI for its event log)"


def launched_by_sensor(instance: dg.DagsterInstance, sensor_name: str, run_key: str) -> dg.DagsterRun | None:
    """The run the daemon would take as already launched for this run key, or None.

    The question the sensor daemon asks before creating a run (``fetch_existing_runs`` in
    ``dagster/_daemon/sensor.py``): a run tagged with this ``dagster/run_key`` and this
    ``dagster/sensor_name``, of any age or status. (The daemon also compares the code location
    of runs it launched itself; this instance serves one.)
    """
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key, SENSOR_NAME_TAG: sensor_name}), limit=1
    )
    return runs[0] if runs else None


def run_due_retries(
    defs: dg.Definitions, instance: dg.DagsterInstance, max_rounds: int = 8
) -> list[RunSummary]:
    """What the daemon does with `kol_retry_sensor`: tick it, run what it asks for, repeat.

    For `pgy retry` (no daemon needed), the soak and the tests. Each round only runs KOLs
    whose cooldown has passed, so this stops when nothing is due. A request is run with the
    tags the daemon gives its runs, and not run when the daemon would skip it (a run for its
    key exists, launched by the daemon or by an earlier `pgy retry`): the two never run one
    retry twice.
    """
    from pgy_pipeline.defs.sensors import RETRY_SENSOR_NAME, kol_retry_sensor

    job = defs.resolve_job_def(REFRESH_JOB_NAME)
    resources = {"pgy": _pgy(defs)}
    out: list[RunSummary] = []
    for _ in range(max_rounds):
        tick = kol_retry_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        requests = tick.run_requests if isinstance(tick, dg.SensorResult) else []
        ran = 0
        for req in requests or []:
            key = req.run_key or ""
            earlier = launched_by_sensor(instance, RETRY_SENSOR_NAME, key) if key else None
            if earlier is not None:
                log.warning(
                    "not run: the retry %s was launched already (run %s, %s)",
                    key,
                    earlier.run_id,
                    earlier.status.value,
                )
                continue
            daemon_tags = {RUN_KEY_TAG: key, SENSOR_NAME_TAG: RETRY_SENSOR_NAME} if key else {}
            result = job.execute_in_process(
                instance=instance,
                partition_key=req.partition_key,
                run_config={**(req.run_config or {}), **QUIET_LOGGERS},
                tags={**req.tags, **daemon_tags, **_marker_tag(instance)},
                raise_on_error=False,
            )
            ran += 1
            user_id = req.partition_key or ""
            failure = None if result.success else _first_failure(result)
            out.append(RunSummary(result.run_id, user_id, user_id, result.success, failure))
        if not ran:
            break
    return out
