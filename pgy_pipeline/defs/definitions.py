"""The code location's one Definitions object: wiring only.

Built by a ``@dg.definitions`` function, so nothing is read from the environment when
this module is imported; the token is not read here at all (see resources.py): it is
resolved where each run executes.
"""

from __future__ import annotations

import dagster as dg

from pgy_pipeline import settings
from pgy_pipeline.defs.alerts import pgy_alert_on_run_failure
from pgy_pipeline.defs.assets import kol_engagement, kol_notes, kol_report, note_engagement
from pgy_pipeline.defs.assets.kol_notes import NOTES
from pgy_pipeline.defs.jobs import engagement_job, refresh_job
from pgy_pipeline.defs.resources import JustOneApiResource, PgyResource
from pgy_pipeline.defs.schedules import DEFAULT_CRON, DEFAULT_TIMEZONE, build_daily_refresh_schedule
from pgy_pipeline.defs.sensors import build_retry_sensor, kol_roster_sensor
from pgy_pipeline.defs.upkeep import lake_upkeep_job, lake_upkeep_schedule


def build_defs(
    api: JustOneApiResource | None = None, pgy: PgyResource | None = None, retry_interval_s: int = 60
) -> dg.Definitions:
    automation = dg.AutomationConditionSensorDefinition(
        "engagement_automation",
        target=dg.AssetSelection.assets(note_engagement, kol_engagement, kol_report),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Recomputes the engagement tables and the report after KOL partitions update.",
    )
    # The checks are evaluated by the kol_notes step, which holds a `justoneapi` pool slot: in
    # runs of their own they wait for a refresh in progress without holding the engagement run.
    checks_automation = dg.AutomationConditionSensorDefinition(
        "notes_checks_automation",
        target=dg.AssetSelection.checks_for_assets(NOTES),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Runs the checks on notes after KOL partitions update (no API call).",
    )
    # The schedule's cron is a property of the loaded code location, read when it loads.
    schedule = build_daily_refresh_schedule(
        settings.schedule_cron(DEFAULT_CRON), settings.schedule_timezone(DEFAULT_TIMEZONE)
    )
    return dg.Definitions(
        assets=[kol_notes, note_engagement, kol_engagement, kol_report],
        jobs=[refresh_job, engagement_job, lake_upkeep_job],
        schedules=[schedule, lake_upkeep_schedule],
        sensors=[
            kol_roster_sensor,
            build_retry_sensor(retry_interval_s),
            automation,
            checks_automation,
            pgy_alert_on_run_failure,
        ],
        resources={"api": api or JustOneApiResource(), "pgy": pgy or PgyResource()},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs()
