"""Shared by the incremental and plan benchmarks: the refresh core on simulated days.

Runs refresh.Refresher directly (no Dagster) against an in-process simulator, with the
pipeline's day pinned by PGY_TODAY and the simulator's clock moved to the same day.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from pgy_pipeline import settings
from pgy_pipeline.justoneapi import ClientConfig
from pgy_pipeline.refresh import KolOutcome, Refresher
from pgy_pipeline.refresh.modes import RefreshMode
from pgy_pipeline.refresh.parts import ConfigClient, RefreshSettings, Stores
from pgy_pipeline.refresh.plan import PlanSettings, RefreshPlan, make_plan
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.simulator.timeline import BASE_ANCHOR
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.state import PipelineState

# The first simulated day: where the simulator's data is anchored.
START = BASE_ANCHOR


def refresher(sim: Simulator, data: Path, rate: float, workers: int = 8) -> Refresher:
    config = ClientConfig(token="bench", base_url=sim.base_url, rate_limit_per_s=rate, backoff_base_s=0.05)

    return Refresher(
        ConfigClient(config, clock=settings.now),
        Stores(Warehouse(data, publish_interval_s=30.0), RawStore(data), PipelineState(data)),
        RefreshSettings(kol_workers=workers),
    )


def set_day(sim: Simulator, day: date) -> None:
    os.environ["PGY_TODAY"] = day.isoformat()
    sim.update(as_of=day)


def plan_day(data: Path, users: list[str], mode: RefreshMode, cfg: PlanSettings) -> RefreshPlan:
    warehouse = Warehouse(data)
    day, now = settings.today(), settings.now()
    if not warehouse.published_path.exists():
        return make_plan(None, RawStore(data), users, mode, day, now, cfg)
    with warehouse.connect_snapshot() as conn:
        return make_plan(conn, RawStore(data), users, mode, day, now, cfg)


def run_plan(r: Refresher, plan: RefreshPlan) -> list[KolOutcome]:
    return r.refresh([k.user_id for k in plan.to_fetch], None, plan.stop_before)
