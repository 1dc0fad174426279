"""Fixtures: simulators started on an ephemeral loopback port, stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pgy_pipeline.simulator import Profile, Simulator

from .helpers import PINNED, MakeSim


@pytest.fixture
def make_sim() -> Iterator[MakeSim]:
    started: list[Simulator] = []

    def make(profile: str | Profile = "clean", **kwargs: Any) -> Simulator:
        kwargs.setdefault("fixed_counts", PINNED)
        sim = Simulator(profile, **kwargs)
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: MakeSim) -> Simulator:
    return make_sim()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s
