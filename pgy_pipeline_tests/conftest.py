"""Shared fixtures for the pipeline tests: a simulator on loopback, a temp data dir, a Dagster instance."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from pgy_pipeline.cli import runner
from pgy_pipeline.defs.definitions import build_defs
from pgy_pipeline.defs.partitions import kol_partitions
from pgy_pipeline.defs.resources import JustOneApiResource, PgyResource
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse.backends import open_warehouse
from pgy_pipeline_tests.support import ANCHOR, TEST_TOKEN, MakeSim


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
        self, user_ids: Sequence[str], filters: Mapping[str, str] | None = None
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


@pytest.fixture
def make_sim() -> Iterator[MakeSim]:
    """The one way tests start simulators: on an ephemeral loopback port, all stopped after the test."""
    started: list[Simulator] = []

    def make(profile: Any = "clean", **kwargs: Any) -> Simulator:
        sim = Simulator(profile, **kwargs)
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def _sqlite_instance(stack: contextlib.ExitStack, home: Path) -> dg.DagsterInstance:
    """A temp-dir SQLite instance with the storage `pgy` configures (batched event writes)."""
    from pgy_pipeline.cli.instance_yaml import sqlite_storage

    home.mkdir()
    return stack.enter_context(
        dg.instance_for_test(temp_dir=str(home), overrides={"storage": sqlite_storage(str(home))})
    )


@pytest.fixture
def make_env(tmp_path: Path, make_sim: MakeSim) -> Iterator[Any]:
    sims: list[Simulator] = []
    stack = contextlib.ExitStack()

    def make(
        profile: str = "clean",
        api: dict[str, Any] | None = None,
        pgy: dict[str, Any] | None = None,
        instance: str = "sqlite",
        **sim_overrides: Any,
    ) -> PipelineEnv:
        sim_overrides.setdefault("anchor_date", ANCHOR)
        sim = make_sim(profile, seed=7, **sim_overrides)
        sims.append(sim)
        # A real (temp-dir, SQLite) instance, as `dagster dev` uses: sensors and schedules need
        # one. "ephemeral" keeps events in memory, for tests of a thousand partitions.
        # "sqlite-dagster": Dagster's own SQLite storage, to compare pgy's with.
        if instance == "ephemeral":
            inst = dg.DagsterInstance.ephemeral()
        elif instance == "sqlite-dagster":
            inst = stack.enter_context(dg.instance_for_test())
        else:
            inst = _sqlite_instance(stack, tmp_path / f"dagster{len(sims)}")
        data = tmp_path / f"data{len(sims)}"
        data.mkdir()
        return PipelineEnv(sim, data, inst, api or {}, pgy or {})

    yield make
    stack.close()


@pytest.fixture
def refreshed(make_env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PipelineEnv:
    """Two KOLs (20 and 9 notes) refreshed; PGY_DATA_DIR and DAGSTER_HOME point at them for `pgy`."""
    env: PipelineEnv = make_env(fixed_counts={"kol_a": 20, "kol_b": 9})
    env.refresh(["kol_a", "kol_b"])
    monkeypatch.setenv("PGY_DATA_DIR", str(env.data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return env


@pytest.fixture(scope="session")
def pg_port() -> Iterator[int]:
    """One PostgreSQL server per test process (each test takes its own database: ``pg_db``)."""
    from pgy_pipeline_tests import pg_server

    why = pg_server.unavailable()
    if why:
        pytest.skip(why)
    with pg_server.postgres_server() as port:
        yield port


@pytest.fixture
def pg_db(pg_port: int) -> str:
    """A fresh database on the shared server; its name (``pg_server.pg_url`` makes the URL)."""
    from pgy_pipeline_tests import pg_server

    return pg_server.create_database(pg_port)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One S3-compatible server (moto) per test process, on loopback; tests make their own buckets."""
    from pgy_pipeline_tests import s3_server

    with s3_server.s3_server() as endpoint:
        yield endpoint
