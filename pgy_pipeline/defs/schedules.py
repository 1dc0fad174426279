"""The daily refresh of every KOL on the roster."""

import dagster as dg

from pgy_pipeline.defs.jobs import refresh_job
from pgy_pipeline.defs.partitions import (
    KOLS_PARTITIONS_NAME,
    contiguous_ranges,
    keys_between,
    kols_tag,
    range_tags,
    roster_labels,
)
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
    ) -> list[dg.RunRequest] | dg.SkipReason:
        keys = context.instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME)
        # A KOL fetched once (`pgy refresh ID` off the roster) has a partition while its run
        # lasts: a tick meanwhile must not buy it too.
        one_off = pgy.state().one_off()
        wanted = [k for k in keys if k not in one_off]
        if not wanted:
            return dg.SkipReason("the roster is empty: add KOLs to data/kols.csv or with `pgy kols add`")
        # The tick's time names the day's run: no key repeats, as no two ticks share a time
        # (Dagster refuses to evaluate a schedule without one).
        when = context.scheduled_execution_time
        # One run per contiguous range of roster partitions: one run, unless a one-off KOL's
        # partition sits between roster KOLs.
        ranges = contiguous_ranges(wanted, keys)
        labels = roster_labels(pgy.roster_path)
        return [
            dg.RunRequest(
                run_key=f"daily:{when.isoformat()}" + (f":{i}/{len(ranges)}" if len(ranges) > 1 else ""),
                # Full for the KOLs whose rota day it is (or never/long not fully fetched), incremental
                # for the rest (refresh/modes.py).
                run_config={"ops": {"kol_notes": {"config": {"mode": "auto"}}}},
                tags={
                    **range_tags(first, last),
                    **kols_tag(keys_between(first, last, keys), labels),
                    TRIGGER_TAG: "schedule",
                },
            )
            for i, (first, last) in enumerate(ranges, start=1)
        ]

    return daily_refresh
