"""Shared fixtures for the pipeline tests: a simulator on loopback, a temp data dir, a Dagster instance."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pgy_pipeline.simulator import Profile, Simulator
from pgy_pipeline_tests.support import ANCHOR, InstanceKind, MakeEnv, MakeSim, PipelineEnv


@pytest.fixture
def make_sim() -> Iterator[MakeSim]:
    """The one way tests start simulators: on an ephemeral loopback port, all stopped after the test."""
    started: list[Simulator] = []

    def make(profile: str | Profile = "clean", /, **kwargs: Any) -> Simulator:
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
def make_env(tmp_path: Path, make_sim: MakeSim) -> Iterator[MakeEnv]:
    sims: list[Simulator] = []
    stack = contextlib.ExitStack()

    def make(
        profile: str | Profile = "clean",
        api: dict[str, Any] | None = None,
        pgy: dict[str, Any] | None = None,
        instance: InstanceKind = "sqlite",
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
def refreshed(make_env: MakeEnv, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PipelineEnv:
    """Two KOLs (20 and 9 notes) refreshed; PGY_DATA_DIR and DAGSTER_HOME point at them for `pgy`."""
    env = make_env(fixed_counts={"kol_a": 20, "kol_b": 9})
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
