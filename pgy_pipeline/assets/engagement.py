"""Derived engagement assets, recomputed in SQL inside DuckDB after KOL updates.

``like_collect`` = likes + collects. The endpoint has no comments or shares, so this is
not the platform's full engagement rate (互动率); see warehouse/engagement.py.
"""

from datetime import UTC, datetime

import dagster as dg

from pgy_pipeline.assets.charts import bar_chart_svg, markdown_image
from pgy_pipeline.assets.kol_notes import NOTES
from pgy_pipeline.assets.metadata import column_schema, preview
from pgy_pipeline.resources import PgyResource
from pgy_pipeline.warehouse.catalog import catalog
from pgy_pipeline.warehouse.engagement import refresh_kol_engagement, refresh_note_engagement
from pgy_pipeline.warehouse.state import QUOTA_TZ

# eager() waits while any dependency partition is missing: one new KOL not yet fetched
# would freeze the derived tables. Dropping that clause keeps them fresh; they are
# computed over the KOLs that have data.
ENGAGEMENT_AUTOMATION = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager, even with KOLs not yet fetched")
)


def _as_of() -> datetime:
    return datetime.now(UTC).astimezone(QUOTA_TZ)


@dg.asset(
    deps=[NOTES],
    description=catalog()["note_engagement"].description,
    group_name="engagement",
    kinds={"duckdb"},
    owners=["team:analytics"],
    automation_condition=ENGAGEMENT_AUTOMATION,
    metadata={
        "dagster/column_schema": column_schema("note_engagement"),
        "dagster/table_name": "pgy.main.note_engagement",
    },
)
def note_engagement(context: dg.AssetExecutionContext, pgy: PgyResource) -> dg.MaterializeResult:
    with pgy.warehouse().write(publish=True) as conn:
        rows = refresh_note_engagement(conn)
        top = conn.execute(
            """
            SELECT user_id, note_id, publish_date, read_num, like_collect, round(like_collect_rate, 4) AS rate
            FROM note_engagement WHERE read_num >= 1000
            ORDER BY like_collect_rate DESC NULLS LAST LIMIT 10
            """
        ).df()
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "top_notes_by_like_collect_rate": preview(top)}
    )


@dg.asset(
    deps=[note_engagement],
    description=catalog()["kol_engagement"].description,
    group_name="engagement",
    kinds={"duckdb"},
    owners=["team:analytics"],
    automation_condition=ENGAGEMENT_AUTOMATION,
    metadata={
        "dagster/column_schema": column_schema("kol_engagement"),
        "dagster/table_name": "pgy.main.kol_engagement",
    },
)
def kol_engagement(context: dg.AssetExecutionContext, pgy: PgyResource) -> dg.MaterializeResult:
    settings = pgy.engagement()
    with pgy.warehouse().write(publish=True) as conn:
        rows = refresh_kol_engagement(conn, _as_of().date(), settings)
        top = conn.execute(
            """
            SELECT user_id, label, notes, reads_median, round(like_collect_rate_pooled, 4) AS lc_rate,
                   round(viral_high_rate, 3) AS viral_high_rate
            FROM kol_engagement ORDER BY like_collect_rate_pooled DESC NULLS LAST LIMIT 10
            """
        ).df()
        chart = conn.execute(
            """
            SELECT coalesce(label, user_id) AS kol, like_collect_rate_pooled AS rate
            FROM kol_engagement WHERE notes >= 10 AND like_collect_rate_pooled IS NOT NULL
            ORDER BY rate DESC LIMIT 15
            """
        ).fetchall()
    svg = bar_chart_svg(
        [r[0] for r in chart],
        [float(r[1]) for r in chart],
        "like_collect rate by KOL (KOLs with >= 10 notes)",
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "like_collect_rate_chart": dg.MetadataValue.md(markdown_image(svg, "like_collect rate by KOL")),
            "viral_low_likes": settings.viral_low_likes,
            "viral_high_likes": settings.viral_high_likes,
            "top_kols_by_like_collect_rate": preview(top),
        }
    )
