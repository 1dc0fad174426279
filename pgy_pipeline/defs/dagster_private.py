"""Every use pgy makes of Dagster's private modules (``dagster._core``), in one place.

Each may change with a Dagster release (pinned in uv.lock); the tests that prove each one still
works are named beside it. For each: what it does, and why no public API does it.
"""

from __future__ import annotations

import logging

import dagster as dg
from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    EXTERNALLY_MANAGED_ASSETS_TAG,
)
from dagster._core.storage.tags import RUN_KEY_TAG as _RUN_KEY_TAG
from dagster._core.storage.tags import SENSOR_NAME_TAG as _SENSOR_NAME_TAG

# "dagster/defer_asset_events": Dagster writes no "materialisation planned" event per (asset,
# partition) when it creates a run carrying it (defs/assets/kol_notes.py says why). Public as a
# behaviour of run creation, but its name is only exported from the private tags module.
DEFER_ASSET_EVENTS_TAG = EXTERNALLY_MANAGED_ASSETS_TAG

# The tags that make a run target a range of partitions ("dagster/asset_partition_range_start/end",
# defs/partitions.py range_tags). The public API sets them only from a sensor's or a schedule's
# RunRequest(partition_key_range); pgy also submits runs itself (cli/runner.py), which needs the names.
PARTITION_RANGE_START_TAG = ASSET_PARTITION_RANGE_START_TAG
PARTITION_RANGE_END_TAG = ASSET_PARTITION_RANGE_END_TAG

# The tags a sensor's run carries: which sensor, and its run key. `pgy` looks up and submits
# the retry sensor's runs itself (cli/runner.py); the names are only exported privately.
RUN_KEY_TAG = _RUN_KEY_TAG
SENSOR_NAME_TAG = _SENSOR_NAME_TAG

__all__ = [
    "DEFER_ASSET_EVENTS_TAG",
    "PARTITION_RANGE_END_TAG",
    "PARTITION_RANGE_START_TAG",
    "RUN_KEY_TAG",
    "SENSOR_NAME_TAG",
    "complete_sqlite_storage",
    "interrupted_error_name",
    "report_planned_events",
]


def report_planned_events(
    context: dg.AssetExecutionContext, keys: list[dg.AssetKey], partitions: list[str]
) -> None:
    """Write the "materialisation planned" event of each (key, partition), as run creation would.

    Why private: a run with DEFER_ASSET_EVENTS_TAG leaves these events to the step, and Dagster
    offers no public way for a step to write one (``context.log_event`` takes materialisations and
    observations only). A FAILED partition is a planned event with no materialisation after it.
    Proved by defs/test_failures.py::test_planned_events_are_written_only_for_the_kols_that_failed.
    """
    step_key = context.op_execution_context.get_step_execution_context().step.key
    for partition in partitions:
        for key in keys:
            event = DagsterEvent.build_asset_materialization_planned_event(
                context.run.job_name, step_key, AssetMaterializationPlannedData(key, partition=partition)
            )
            context.instance.report_dagster_event(event, context.run_id, logging.DEBUG)


def complete_sqlite_storage(instance: dg.DagsterInstance) -> None:
    """Create the tables missing from the instance's SQLite storage (create_all skips existing ones).

    Why private: Dagster creates its SQLite tables lazily, per storage, and offers no public call
    to create them all up front; the command line needs them before runs start in parallel
    (cli/runner.py). Proved by cli/test_commands.py and every test that runs a job in-process.
    """
    from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
    from dagster._core.storage.runs.schema import RunStorageSqlMetadata
    from dagster._core.storage.schedules.schema import ScheduleStorageSqlMetadata

    storages = (
        (instance.run_storage, "connect", RunStorageSqlMetadata),
        (instance.event_log_storage, "index_connection", SqlEventLogStorageMetadata),
        (instance.schedule_storage, "connect", ScheduleStorageSqlMetadata),
    )
    for storage, opener, metadata in storages:
        open_connection = getattr(storage, opener, None)
        if open_connection is not None and "sqlite" in type(storage).__name__.lower():
            with open_connection() as conn:
                metadata.create_all(conn)
                conn.commit()


def interrupted_error_name() -> str:
    """The class name of the error Dagster's own signal handler raises in a step.

    Why private: an in-process result reports a step's error by class name only, and the class
    is not exported publicly. Proved by test_interrupts.py (a signal before the step's handler).
    """
    from dagster._core.errors import DagsterExecutionInterruptedError

    return DagsterExecutionInterruptedError.__name__
