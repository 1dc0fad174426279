"""The materialisations of a refresh reach Dagster's event log in batches, and say exactly what a
write per event would (issue 20: 20,000 events one by one took minutes after the last call)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
import pytest

from pgy_pipeline.defs import dagster_private
from pgy_pipeline.defs.assets.event_buffer import MaterialisationBuffer

COUNTS = {f"kol_{i:02d}": 3 + i for i in range(12)}


def _mat(partition: str) -> dg.AssetMaterialization:
    return dg.AssetMaterialization("notes", partition=partition)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_buffer_writes_a_batch_once_it_holds_max_events() -> None:
    written: list[list[str]] = []
    buf = MaterialisationBuffer(lambda ev: written.append([e.partition or "" for e in ev]), max_events=3)
    buf.add([_mat("a"), _mat("b")])
    assert written == []
    buf.add([_mat("c")])
    assert written == [["a", "b", "c"]]


def test_the_buffer_writes_a_batch_once_its_oldest_event_is_max_age_old() -> None:
    clock, written = _Clock(), []
    buf = MaterialisationBuffer(
        lambda ev: written.append(len(ev)), max_events=100, max_age_s=1.0, clock=clock
    )
    buf.add([_mat("a")])
    clock.now = 0.9
    buf.add([_mat("b")])
    assert written == []
    clock.now = 1.0
    buf.add([_mat("c")])
    assert written == [3]


def test_flush_writes_what_is_held_once_and_nothing_when_empty() -> None:
    written: list[int] = []
    buf = MaterialisationBuffer(lambda ev: written.append(len(ev)))
    buf.flush()
    buf.add([_mat("a")])
    buf.flush()
    buf.flush()
    assert written == [1] and buf.batches == 1


def test_a_failed_write_is_not_repeated_by_the_next_flush() -> None:
    calls: list[int] = []

    def write(ev: Sequence[dg.AssetMaterialization]) -> None:
        calls.append(len(ev))
        raise OSError("disk full")

    buf = MaterialisationBuffer(write)
    buf.add([_mat("a")])
    with pytest.raises(OSError):
        buf.flush()
    buf.flush()
    assert calls == [1]


@pytest.fixture
def storage_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Any]]]:
    """What reached the SQLite event log pgy configures: each batch's size, each single event's type."""
    seen: dict[str, list[Any]] = {"batches": [], "singles": []}
    cls = dagster_private._SqliteEventLogWithBatches
    batch, single = cls.store_event_batch, cls.store_event

    def store_event_batch(self: Any, events: Any) -> None:
        seen["batches"].append(len(events))
        batch(self, events)

    def store_event(self: Any, event: Any) -> None:
        seen["singles"].append(event.dagster_event_type)
        single(self, event)

    monkeypatch.setattr(cls, "store_event_batch", store_event_batch)
    monkeypatch.setattr(cls, "store_event", store_event)
    yield seen


def test_a_refresh_writes_its_materialisations_in_batches(make_env: Any, storage_calls: Any) -> None:
    env = make_env(fixed_counts=COUNTS)
    assert isinstance(env.instance.event_log_storage, dagster_private._SqliteEventLogWithBatches)
    env.add_kols(list(COUNTS))
    [run] = env.refresh(list(COUNTS))
    assert run.success
    assert dg.DagsterEventType.ASSET_MATERIALIZATION not in storage_calls["singles"]
    assert sum(storage_calls["batches"]) == 2 * len(COUNTS)  # note_pages and notes, each KOL
    assert len(storage_calls["batches"]) < len(COUNTS)


def _what_the_ui_reads(instance: dg.DagsterInstance) -> dict[str, Any]:
    """Per asset: the materialised partitions, its latest event, each partition's metadata."""
    volatile = {"duration_s", "fetch_id", "raw_file", "source"}  # differ between any two runs
    out: dict[str, Any] = {}
    for asset in ("note_pages", "notes"):
        key = dg.AssetKey(asset)
        latest = instance.get_latest_materialization_event(key)
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1000).records
        metadata = {
            r.partition_key: {
                k: v.value for k, v in r.asset_materialization.metadata.items() if k not in volatile
            }
            for r in records
            if r.asset_materialization is not None
        }
        out[asset] = {
            "materialized": sorted(instance.get_materialized_partitions(key)),
            # The asset's row keeps the newest event (which KOL lands last varies from run to run).
            "latest_is_newest": latest is not None and latest == records[0].event_log_entry,
            "events": len(records),
            "metadata": metadata,
        }
    return out


def test_batched_writes_leave_the_same_asset_history_as_one_write_per_event(make_env: Any) -> None:
    """The same refresh, on the instance pgy configures and on Dagster's own SQLite storage."""
    batched = make_env(fixed_counts=COUNTS)
    plain = make_env(fixed_counts=COUNTS, instance="sqlite-dagster")
    assert not isinstance(plain.instance.event_log_storage, dagster_private._SqliteEventLogWithBatches)
    for env in (batched, plain):
        env.add_kols(list(COUNTS))
        [run] = env.refresh(list(COUNTS))
        assert run.success
    assert _what_the_ui_reads(batched.instance) == _what_the_ui_reads(plain.instance)
    assert batched.partition_status("notes") == (set(COUNTS), set())
    assert batched.partition_status("note_pages") == (set(COUNTS), set())
