"""The one Definitions object of the code location (wiring only).

Configuration comes from the environment, by reference: the token is an
``EnvVar("JUSTONEAPI_TOKEN")`` resolved at run time, so its value never lands in the
run config, the UI or the event log. Without a token the bundled simulator is used.
"""

from __future__ import annotations

import os

import dagster as dg

from pgy_pipeline.assets import kol_engagement, kol_notes, note_engagement
from pgy_pipeline.assets.kol_notes import NOTES
from pgy_pipeline.checks import ALL_CHECKS
from pgy_pipeline.jobs import engagement_job, refresh_job
from pgy_pipeline.resources import JustOneApiResource, PgyResource
from pgy_pipeline.schedules import DEFAULT_CRON, DEFAULT_TIMEZONE, build_daily_refresh_schedule
from pgy_pipeline.sensors import kol_retry_sensor, kol_roster_sensor


def _env(name: str, default: str | None = None) -> str | dg.EnvVar | None:
    """An EnvVar reference when the variable is set (value resolved at run time), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def build_defs() -> dg.Definitions:
    api = JustOneApiResource(
        token=_env("JUSTONEAPI_TOKEN"),
        base_url=_env("JUSTONEAPI_BASE_URL"),
        simulator_profile=os.environ.get("PGY_SIMULATOR_PROFILE", "realistic"),
    )
    budget = os.environ.get("PGY_DAILY_CALL_BUDGET")
    pgy = PgyResource(
        data_dir=_env("PGY_DATA_DIR") or "data",
        daily_call_budget=int(budget) if budget else None,
    )
    automation = dg.AutomationConditionSensorDefinition(
        "engagement_automation",
        target=dg.AssetSelection.assets(note_engagement, kol_engagement)
        | dg.AssetSelection.checks_for_assets(NOTES),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Recomputes the engagement tables, and runs the checks on notes, after KOL partitions update.",
    )
    return dg.Definitions(
        assets=[kol_notes, note_engagement, kol_engagement],
        asset_checks=ALL_CHECKS,
        jobs=[refresh_job, engagement_job],
        schedules=[
            build_daily_refresh_schedule(
                os.environ.get("PGY_SCHEDULE_CRON", DEFAULT_CRON),
                os.environ.get("PGY_SCHEDULE_TIMEZONE", DEFAULT_TIMEZONE),
            )
        ],
        sensors=[kol_roster_sensor, kol_retry_sensor, automation],
        resources={"api": api, "pgy": pgy},
    )


defs = build_defs()
