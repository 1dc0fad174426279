"""Constants and helpers shared by the pipeline tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import dagster as dg
import duckdb

from pgy_pipeline.cli import runner
from pgy_pipeline.defs.definitions import build_defs
from pgy_pipeline.defs.partitions import kol_partitions
from pgy_pipeline.defs.resources import JustOneApiResource, PgyResource
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.simulator.profiles import Profile
from pgy_pipeline.warehouse.backends import open_warehouse

# A fixed "today" for the simulator's data so expectations never depend on the calendar.
ANCHOR = date(2026, 3, 8)
# Distinctive, so a leak is found by a byte scan of every output and file.
TEST_TOKEN = "tok-PIPELINE-SECRET-4b1d9e"

# Which Dagster instance a PipelineEnv runs on: "sqlite" (a temp dir, with the storage `pgy`
# configures), "sqlite-dagster" (Dagster's own SQLite storage, to compare pgy's with) or
# "ephemeral" (events in memory, for tests of a thousand partitions).
InstanceKind = Literal["sqlite", "sqlite-dagster", "ephemeral"]


class MakeSim(Protocol):
    """The `make_sim` fixture: start a simulator on a loopback port, stopped after the test."""

    def __call__(self, profile: str | Profile = "clean", /, **kwargs: Any) -> Simulator: ...


class MakeEnv(Protocol):
    """The `make_env` fixture: a simulator (``profile``, ``**sim_overrides``: Simulator keywords),
    a temp data dir and a Dagster instance, wired as a PipelineEnv; ``api``/``pgy`` override the
    resources' test settings."""

    def __call__(
        self,
        profile: str | Profile = "clean",
        api: dict[str, Any] | None = None,
        pgy: dict[str, Any] | None = None,
        instance: InstanceKind = "sqlite",
        **sim_overrides: Any,
    ) -> PipelineEnv: ...


@dataclass
class PipelineEnv:
    """A pipeline wired to a simulator and a temp data dir, run in-process."""

    sim: Simulator
    data_dir: Path
    instance: dg.DagsterInstance
    api_overrides: dict[str, Any] = field(default_factory=dict)
    pgy_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> JustOneApiResource:
        cfg: dict[str, Any] = {
            "token": TEST_TOKEN,
            "base_url": self.sim.base_url,
            "backoff_base_s": 0.001,
            "backoff_max_s": 0.01,
            "read_timeout_s": 2.0,
            "connect_timeout_s": 2.0,
            "rate_limit_per_s": 1000.0,
        }
        return JustOneApiResource(**(cfg | self.api_overrides))

    @property
    def pgy(self) -> PgyResource:
        cfg: dict[str, Any] = {
            "data_dir": str(self.data_dir),
            "publish_interval_s": 0.0,
            "kol_workers": 4,
            "fresh_for_h": 0.0,  # tests refresh the same KOL again on purpose
        }
        return PgyResource(**(cfg | self.pgy_overrides))

    @property
    def defs(self) -> dg.Definitions:
        return build_defs(self.api, self.pgy)

    def add_kols(self, user_ids: Sequence[str]) -> None:
        runner.add_partitions(self.instance, user_ids)

    def refresh(
        self, user_ids: Sequence[str], filters: Mapping[str, object] | None = None
    ) -> list[runner.RunSummary]:
        return runner.refresh(self.defs, self.instance, user_ids, filters)

    def engagement(self) -> runner.RunSummary:
        return runner.refresh_engagement(self.defs, self.instance)

    def db(self) -> duckdb.DuckDBPyConnection:
        return open_warehouse(self.data_dir).connect_snapshot()

    def partition_status(self, asset: str = "notes") -> tuple[set[str], set[str]]:
        """(materialized, failed) partition keys of an asset, as the UI shows them."""
        from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

        value = get_and_update_asset_status_cache_value(
            self.instance, dg.AssetKey(asset), kol_partitions, dynamic_partitions_loader=self.instance
        )
        assert value is not None
        mat = set(value.deserialize_materialized_partition_subsets(kol_partitions).get_partition_keys())
        failed = set(value.deserialize_failed_partition_subsets(kol_partitions).get_partition_keys())
        return mat, failed


def expected_frame(sim: Simulator, user_id: str, **filters: str) -> list[tuple[Any, ...]]:
    """The simulator's truth as (note_id, read_num, like_num, collect_num, third_read_user_num) rows."""
    return sorted(
        (n["noteId"], n["readNum"], n["likeNum"], n["collectNum"], n["thirdReadUserNum"])
        for n in sim.expected_notes(user_id, **filters)
    )


def stored_frame(conn: duckdb.DuckDBPyConnection, user_id: str) -> list[tuple[Any, ...]]:
    return sorted(
        conn.execute(
            "SELECT note_id, read_num, like_num, collect_num, third_read_user_num FROM notes "
            "WHERE user_id = ? AND gone_at IS NULL",
            [user_id],
        ).fetchall()
    )


def tick_schedule(schedule: dg.ScheduleDefinition, env: PipelineEnv) -> Any:
    """One tick of ``schedule`` at 06:00 on a fixed day, on a PipelineEnv's instance and resources."""
    # A schedule context opens its own instance from the ref; `with` closes it, or Dagster's
    # context-wide state storage would keep pointing at it after this test.
    when = datetime(2026, 11, 26, 6)
    with dg.build_schedule_context(
        instance=env.instance, scheduled_execution_time=when, resources={"pgy": env.pgy}
    ) as ctx:
        return schedule.evaluate_tick(ctx)


@contextlib.contextmanager
def instance_at(home: str | os.PathLike[str]) -> Iterator[dg.DagsterInstance]:
    """The Dagster instance of ``home`` as a Dagster process opens it: with DAGSTER_HOME set, which
    the storage pgy configures follows (cli/runner.py writes ``base_dir: {env: DAGSTER_HOME}``)."""
    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance
    finally:
        if before is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = before
