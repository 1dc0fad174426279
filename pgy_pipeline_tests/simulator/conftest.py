"""Fixtures: simulators started on an ephemeral loopback port, stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pgy_pipeline.simulator import Profile, Simulator
from pgy_pipeline_tests.support import MakeSim

from .helpers import PINNED


@pytest.fixture
def make_sim(make_sim: MakeSim) -> MakeSim:
    """The suite's make_sim, with the KOLs these tests know pinned to their note counts."""

    def make(profile: str | Profile = "clean", **kwargs: Any) -> Simulator:
        kwargs.setdefault("fixed_counts", PINNED)
        return make_sim(profile, **kwargs)

    return make


@pytest.fixture
def sim(make_sim: MakeSim) -> Simulator:
    return make_sim()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s
