"""Derived engagement assets, recomputed in SQL inside DuckDB after KOL updates.

``like_collect`` = likes + collects. The endpoint has no comments or shares, so this is
not the platform's full engagement rate (互动率); see warehouse/engagement.py.
"""

import dagster as dg

from pgy_pipeline import settings as pgy_settings
from pgy_pipeline.defs.assets.charts import bar_chart_svg, markdown_image
from pgy_pipeline.defs.assets.kol_notes import NOTES
from pgy_pipeline.defs.metadata import column_schema, preview
from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.warehouse import queries
from pgy_pipeline.warehouse.catalog import catalog
from pgy_pipeline.warehouse.engagement import refresh_kol_engagement

# eager() waits while any dependency partition is missing: one new KOL not yet fetched
# would freeze the derived tables. Dropping that clause keeps them fresh; they are
# computed over the KOLs that have data.
ENGAGEMENT_AUTOMATION = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager, even with KOLs not yet fetched")
)


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
    # A view over notes: nothing to compute or write, so only a read of the working copy.
    with pgy.warehouse().read_working() as conn:
        rows = queries.row_count(conn, "note_engagement")
        top = queries.top_notes_by_rate(conn)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "top_notes_by_like_collect_rate": preview(top)}
    )


FIGURE_TABLES = ("rising_notes", "kol_flags", "kol_costs")


@dg.asset(
    deps=[note_engagement],
    description=catalog()["kol_engagement"].description
    + " The same run rebuilds the figures built on it: kol_costs, kol_percentiles, note_lifecycle, "
    "kol_lifecycle (and the rising_notes view) and kol_flags.",
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
    warehouse = pgy.warehouse()
    with warehouse.write(publish=True) as conn:
        rows = refresh_kol_engagement(conn, pgy_settings.today(), settings)  # PGY_TODAY pins the windows
        top = queries.top_kols_by_rate(conn)
        chart = queries.kol_rates_for_chart(conn)
        rising = queries.rising_notes_preview(conn)
        flags = queries.flags_preview(conn)
        figures = {t: queries.row_count(conn, t) for t in FIGURE_TABLES}
    for edit in warehouse.kept_edits:
        context.log.warning(edit.message)
    svg = bar_chart_svg(
        [kol for kol, _ in chart],
        [rate for _, rate in chart],
        "like_collect rate by KOL (KOLs with >= 10 notes)",
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows.kols,
            # The others' inputs were unchanged (warehouse/engagement_inputs.py): their rows were kept.
            "kol_engagement_rows_rebuilt": rows.rebuilt,
            "like_collect_rate_chart": dg.MetadataValue.md(markdown_image(svg, "like_collect rate by KOL")),
            "simulated_data": pgy.state().holds_simulated_data(),
            "viral_low_likes": settings.viral_low_likes,
            "viral_high_likes": settings.viral_high_likes,
            "top_kols_by_like_collect_rate": preview(top),
            # Notes taking off and plausibility flags: what a buyer acts on today.
            "rising_notes": preview(rising),
            "rising_notes_count": figures["rising_notes"],
            "flags": preview(flags),
            "flags_count": figures["kol_flags"],
            "kol_costs_rows": figures["kol_costs"],
        }
    )
