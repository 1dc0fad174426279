"""Asset checks on the warehouse: they read the working copy under the writer lock."""

from datetime import timedelta

import dagster as dg

from pgy_pipeline.defs.assets.kol_notes import NOTES
from pgy_pipeline.defs.assets.metadata import preview
from pgy_pipeline.defs.partitions import KOLS_PARTITIONS_NAME
from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.warehouse import queries

# The schedule runs daily; a KOL not refreshed for longer than this is stale.
FRESHNESS_WINDOW = timedelta(hours=26)
# Slack on top of the drift the API itself showed within a fetch.
TOTAL_SLACK = 1
# Checks read the whole table, so they run after KOL partitions update (through the
# automation sensor) rather than inside each refresh step, and in `refresh_engagement`.
CHECK_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated().since_last_handled().with_label("after notes update")
)


@dg.asset_check(
    asset=NOTES, description="(user_id, note_id) is unique in notes.", automation_condition=CHECK_AUTOMATION
)
def notes_unique_per_kol(pgy: PgyResource) -> dg.AssetCheckResult:
    with pgy.warehouse().read_working() as conn:
        dups = queries.duplicate_note_keys(conn)
    return dg.AssetCheckResult(
        passed=len(dups) == 0, metadata={"duplicate_keys": len(dups), "examples": preview(dups)}
    )


@dg.asset_check(
    asset=NOTES,
    description="Reads, likes, collects and third-party reads are never negative.",
    automation_condition=CHECK_AUTOMATION,
)
def notes_metrics_non_negative(pgy: PgyResource) -> dg.AssetCheckResult:
    with pgy.warehouse().read_working() as conn:
        n, bad = queries.negative_metric_rows(conn)
    return dg.AssetCheckResult(passed=n == 0, metadata={"negative_rows": n, "examples": preview(bad)})


@dg.asset_check(
    asset=NOTES,
    description=(
        "For each KOL's latest complete, unfiltered fetch, the live notes stored lie within the range of "
        "`total` the API reported during that fetch (it drifts), plus one note of slack."
    ),
    automation_condition=CHECK_AUTOMATION,
)
def notes_match_reported_total(pgy: PgyResource) -> dg.AssetCheckResult:
    with pgy.warehouse().read_working() as conn:
        checked, off = queries.kols_off_reported_total(conn, TOTAL_SLACK)
    return dg.AssetCheckResult(
        passed=len(off) == 0,
        metadata={
            "kols_checked": checked,
            "kols_off": len(off),
            "examples": preview(off),
        },
    )


@dg.asset_check(
    asset=NOTES,
    description=f"Every KOL on the roster had a complete fetch within the last {FRESHNESS_WINDOW}.",
    automation_condition=CHECK_AUTOMATION,
)
def roster_refreshed_within_window(
    context: dg.AssetCheckExecutionContext, pgy: PgyResource
) -> dg.AssetCheckResult:
    roster = context.instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME)
    with pgy.warehouse().read_working() as conn:
        fresh = queries.kols_complete_within(conn, FRESHNESS_WINDOW)
    stale = [u for u in roster if u not in fresh]
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "roster_kols": len(roster),
            "stale_kols": len(stale),
            "stale_examples": ", ".join(stale[:20]) or "-",
        },
    )


ALL_CHECKS = [
    notes_unique_per_kol,
    notes_metrics_non_negative,
    notes_match_reported_total,
    roster_refreshed_within_window,
]
