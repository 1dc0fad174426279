"""Asset checks on the warehouse: they read the working copy under the writer lock."""

from datetime import timedelta

import dagster as dg

from pgy_pipeline.assets.kol_notes import NOTES
from pgy_pipeline.assets.metadata import preview
from pgy_pipeline.partitions import KOLS_PARTITIONS_NAME
from pgy_pipeline.resources import PgyResource

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
        dups = conn.execute(
            "SELECT user_id, note_id, count(*) AS n FROM notes GROUP BY ALL HAVING n > 1 LIMIT 20"
        ).df()
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
        bad = conn.execute(
            """
            SELECT user_id, note_id, read_num, like_num, collect_num, third_read_user_num FROM notes
            WHERE read_num < 0 OR like_num < 0 OR collect_num < 0 OR third_read_user_num < 0 LIMIT 20
            """
        ).df()
        total = conn.execute(
            "SELECT count(*) FROM notes WHERE read_num < 0 OR like_num < 0 OR collect_num < 0 "
            "OR third_read_user_num < 0"
        ).fetchone()
    n = int(total[0]) if total else 0
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
        off = conn.execute(
            """
            WITH latest AS (
                SELECT * FROM fetches WHERE is_full AND status = 'complete'
                QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY finished_at DESC) = 1
            ), stored AS (
                SELECT user_id, count(*) FILTER (WHERE gone_at IS NULL) AS live FROM notes GROUP BY user_id
            )
            SELECT l.user_id, coalesce(s.live, 0) AS live_notes, l.reported_total_min, l.reported_total
            FROM latest l LEFT JOIN stored s USING (user_id)
            WHERE coalesce(s.live, 0) < l.reported_total_min - $slack
               OR coalesce(s.live, 0) > l.reported_total + $slack
            """,
            {"slack": TOTAL_SLACK},
        ).df()
        checked = conn.execute(
            "SELECT count(DISTINCT user_id) FROM fetches WHERE is_full AND status = 'complete'"
        ).fetchone()
    return dg.AssetCheckResult(
        passed=len(off) == 0,
        metadata={
            "kols_checked": int(checked[0]) if checked else 0,
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
        rows = conn.execute(
            """
            SELECT user_id, max(finished_at) AS last_ok FROM fetches
            WHERE status = 'complete' AND finished_at >= now() - $window
            GROUP BY user_id
            """,
            {"window": FRESHNESS_WINDOW},
        ).fetchall()
    fresh = {r[0] for r in rows}
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
