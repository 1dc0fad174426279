"""The weekly upkeep of a DuckLake warehouse (warehouse/lake_upkeep.py): a job and its schedule.

A deployment on the DuckDB file runs it too, as a no-op that says so: the file is checkpointed at
every publish. On a lake it waits for the writer lock, so it never runs beside a run's write; it is
scheduled on Sunday before the daily refresh, when nothing else writes.
"""

# No `from __future__ import annotations`: Dagster reads the op's config class from its annotation.
import dagster as dg
from pydantic import Field

from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.defs.schedules import DEFAULT_TIMEZONE
from pgy_pipeline.warehouse.lake import LakeWarehouse
from pgy_pipeline.warehouse.lake_upkeep import GRACE_HOURS, GRACE_HOURS_HELP, KEEP_DAYS, KEEP_DAYS_HELP

UPKEEP_JOB_NAME = "lake_upkeep"
UPKEEP_CRON = "0 3 * * 0"  # Sunday 03:00 in the pipeline's time zone, before the daily refresh


class UpkeepConfig(dg.Config):
    keep_days: int = Field(default=KEEP_DAYS, ge=0, description=KEEP_DAYS_HELP)
    grace_hours: int = Field(default=GRACE_HOURS, ge=0, description=GRACE_HOURS_HELP)


@dg.op(name="upkeep_the_lake")
def lake_upkeep_op(context: dg.OpExecutionContext, config: UpkeepConfig, pgy: PgyResource) -> None:
    """Expire old snapshots, merge small files, delete the files nothing needs (DuckLake only)."""
    warehouse = pgy.warehouse()
    if not isinstance(warehouse, LakeWarehouse):
        context.log.info(
            f"{warehouse.location}: a DuckDB file is checkpointed at every publish; nothing to do"
        )
        context.add_output_metadata({"backend": "duckdb file", "skipped": True})
        return
    result = warehouse.upkeep(config.keep_days, config.grace_hours)
    context.log.info(f"{warehouse.location}: {result.summary()}")
    context.add_output_metadata(
        {
            "backend": "ducklake",
            "snapshots_expired": result.snapshots_expired,
            "files_merged": result.files_merged,
            "files_rewritten": result.files_rewritten,
            "files_deleted": result.files_deleted,
            "seconds": result.seconds,
        }
    )


@dg.job(name=UPKEEP_JOB_NAME, description="DuckLake's weekly upkeep (a no-op on the DuckDB file).")
def lake_upkeep_job() -> None:
    lake_upkeep_op()


lake_upkeep_schedule = dg.ScheduleDefinition(
    name="weekly_lake_upkeep",
    job=lake_upkeep_job,
    cron_schedule=UPKEEP_CRON,
    execution_timezone=DEFAULT_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Expire lake snapshots older than {KEEP_DAYS} days, merge small files, delete unneeded files.",
)
