"""The daily refresh of every KOL on the roster."""

import dagster as dg

from pgy_pipeline.defs.jobs import refresh_job
from pgy_pipeline.defs.partitions import KOLS_PARTITIONS_NAME, kols_tag, range_tags, roster_labels
from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.defs.tags import TRIGGER_TAG
from pgy_pipeline.settings import PIPELINE_TZ

DEFAULT_CRON = "0 6 * * *"
DEFAULT_TIMEZONE = PIPELINE_TZ.key


def build_daily_refresh_schedule(
    cron_schedule: str = DEFAULT_CRON, timezone: str = DEFAULT_TIMEZONE
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_refresh",
        job=refresh_job,
        cron_schedule=cron_schedule,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Refresh every KOL on the roster ({cron_schedule}, {timezone}) in one run; derived engagement "
            "tables follow through their automation condition; failed KOLs go to the retry sensor."
        ),
    )
    def daily_refresh(
        context: dg.ScheduleEvaluationContext, pgy: PgyResource
    ) -> dg.RunRequest | dg.SkipReason:
        keys = context.instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME)
        if not keys:
            return dg.SkipReason("the roster is empty: add KOLs to data/kols.csv or with `pgy kols add`")
        tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "now"
        return dg.RunRequest(
            run_key=f"daily:{tick}",
            # Full for the KOLs whose rota day it is (or never/long not fully fetched), incremental
            # for the rest (refresh/modes.py).
            run_config={"ops": {"kol_notes": {"config": {"mode": "auto"}}}},
            tags={
                **range_tags(keys[0], keys[-1]),
                **kols_tag(keys, roster_labels(pgy.roster_path)),
                TRIGGER_TAG: "schedule",
            },
        )

    return daily_refresh
