"""Every use pgy makes of Dagster's private modules (``dagster._core``), in one place.

Each may change with a Dagster release (pinned in uv.lock); the tests that prove each one still
works are named beside it. For each: what it does, and why no public API does it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg
from dagster._core.events import (
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventBatchMetadata,
    DagsterEventType,
    generate_event_batch_id,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
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
    "SqliteStorageWithBatches",
    "complete_sqlite_storage",
    "interrupted_error_name",
    "log_materialisations",
    "report_planned_events",
]

# Dagster writes a batch of events in one storage call only when this is set (its default is 0:
# one write per event). The batches pgy sends are bounded by the step (assets/event_buffer.py).
EVENT_BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = 10_000


def _in_batches(
    events: Sequence[Any],
    key: Callable[[Any], dg.AssetKey],
    send: Callable[[Any, DagsterEventBatchMetadata], object],
) -> None:
    """Send ``events`` as one Dagster event batch per asset key (the storages batch one key at a time)."""
    os.environ.setdefault(EVENT_BATCH_SIZE_ENV, str(EVENT_BATCH_SIZE))
    by_key: dict[dg.AssetKey, list[Any]] = {}
    for event in events:
        by_key.setdefault(key(event), []).append(event)
    for same_key in by_key.values():
        batch_id = generate_event_batch_id()
        for i, event in enumerate(same_key):
            send(event, DagsterEventBatchMetadata(batch_id, i == len(same_key) - 1))


def log_materialisations(
    context: dg.AssetExecutionContext, events: Sequence[dg.AssetMaterialization]
) -> None:
    """Write ``events`` to the run's event log in batches, as Dagster writes a partition range's outputs.

    Why private: ``context.log_event`` writes one event per storage call: on the SQLite instance
    a connection and two commits each (~14 ms of CPU), 20,000 events for 10,000 KOLs, far
    behind the fetch. Dagster batches the events of a partition range's outputs
    (``DagsterEventBatchMetadata``, ``DAGSTER_EVENT_BATCH_SIZE``); a step has no public way to
    do the same. PostgreSQL's event log writes a batch in one statement; the SQLite one pgy
    configures (SqliteStorageWithBatches) in one transaction per database.
    Proved by defs/test_event_batches.py.
    """
    step_context = context.op_execution_context.get_step_execution_context()
    _in_batches(
        events,
        lambda m: m.asset_key,
        lambda m, batch: DagsterEvent.asset_materialization(step_context, m, batch),
    )


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
    planned = [AssetMaterializationPlannedData(key, partition=p) for p in partitions for key in keys]

    def send(data: AssetMaterializationPlannedData, batch: DagsterEventBatchMetadata) -> None:
        event = DagsterEvent.build_asset_materialization_planned_event(context.run.job_name, step_key, data)
        context.instance.report_dagster_event(event, context.run_id, logging.DEBUG, batch_metadata=batch)

    _in_batches(planned, lambda d: d.asset_key, send)


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


_BATCHED_TYPES = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_MATERIALIZATION_PLANNED}


class _SqliteEventLogWithBatches(SqliteEventLogStorage):
    """Dagster's SQLite event log, writing a batch of one run's asset events in one transaction per
    database (the run's and the index), as ``store_event`` writes one. Other batches: one by one."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        kinds = {e.dagster_event.event_type if e.dagster_event else None for e in events}
        if len({e.run_id for e in events}) != 1 or not kinds <= _BATCHED_TYPES:
            super().store_event_batch(events)
            return
        rows = [self._event_to_row(e) for e in events]
        table = SqlEventLogStorageTable
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(table.insert(), rows)
        with self.index_transaction() as conn:
            # Mirrored in the index, with their tags, as store_event does: the asset queries read it.
            result = conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows)
            ids = [row[0] for row in result.fetchall()]
            self._store_asset_event_tags(conn, events, ids)
            last: dict[object, tuple[EventLogEntry, int]] = {}
            for event, event_id in zip(events, ids, strict=True):
                last[event.dagster_event.asset_key if event.dagster_event else None] = (event, event_id)
            for event, event_id in last.values():  # the asset row keeps the latest event only
                self._store_asset_event(conn, event, event_id)


class SqliteStorageWithBatches(DagsterSqliteStorage):
    """The default SQLite instance storage (same files), with an event log that writes batches.

    Named in the dagster.yaml pgy writes (cli/runner.py). Why private: Dagster's SQLite event log
    writes a batch event by event; the class to extend and its helpers (``_event_to_row``,
    ``_store_asset_event_tags``, ``_store_asset_event``) are internal. Proved by
    defs/test_event_batches.py (partition status, latest materialisation, the UI's asset queries).
    """

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = _SqliteEventLogWithBatches(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> SqliteStorageWithBatches:
        return cls.from_local(inst_data=inst_data, **config_value)
