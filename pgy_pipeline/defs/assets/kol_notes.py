"""Per-KOL assets: ``note_pages`` (the raw layer) and ``notes`` (the DuckDB table).

Both are materialised by one step, so a run of many KOLs costs one Dagster step, not
one run per KOL. Each KOL's partitions are reported as materialised the moment its
data is stored; at the end, the step fails if any KOL failed, which leaves exactly the
failed partitions FAILED (see README, "Operations").

The refresh job's runs carry ``DEFER_ASSET_EVENTS_TAG``: Dagster then writes no
"materialisation planned" event per (asset, KOL) when it creates the run. On the SQLite
instance each costs a connection and two commits (~30 ms): 2,000 for 1,000 KOLs, a
minute before the first API call. This step writes them itself, at the end and only for
the KOLs that did not materialise, which is all a FAILED partition needs (a planned
event with no materialisation after it, in a failed run). What is lost: partitions do
not show "in progress" while the run is going (the run's page does).
"""

from collections.abc import Iterator
from typing import Literal

import dagster as dg
from pydantic import Field

from pgy_pipeline import interrupts
from pgy_pipeline.defs.alerts import alert_drift, alert_stops
from pgy_pipeline.defs.assets.event_buffer import MaterialisationBuffer
from pgy_pipeline.defs.assets.interrupted import end_interrupted
from pgy_pipeline.defs.assets.materialisations import RunFacts
from pgy_pipeline.defs.assets.owed_events import OwedPlannedEvents
from pgy_pipeline.defs.assets.refresh_plan import plan_run
from pgy_pipeline.defs.assets.refresh_steps import (
    OutcomeReporter,
    RunEnd,
    build_refresher,
    claim_source,
    fail_if_any_failed,
    log_totals,
    prepare_warehouse,
)
from pgy_pipeline.defs.checks import NOTES_CHECK_SPECS, run_selected_checks
from pgy_pipeline.defs.dagster_private import (
    DEFER_ASSET_EVENTS_TAG,
    log_materialisations,
    report_planned_events,
)
from pgy_pipeline.defs.keys import NOTE_PAGES, NOTES
from pgy_pipeline.defs.metadata import column_schema
from pgy_pipeline.defs.partitions import kol_partitions
from pgy_pipeline.defs.resources import JustOneApiResource, PgyResource
from pgy_pipeline.justoneapi import AdvertiseSwitch, IsThirdPlatform, NotesQuery, NoteType, OrderType
from pgy_pipeline.refresh.modes import RefreshMode
from pgy_pipeline.refresh.outcomes import InterruptSummary
from pgy_pipeline.roster import load_roster
from pgy_pipeline.warehouse.catalog import catalog

__all__ = ["DEFER_ASSET_EVENTS_TAG", "NOTES", "NOTE_PAGES", "FetchConfig", "kol_notes"]

# Filters are validated through NotesQuery, which needs some user id.
PLACEHOLDER_USER = "any"


class FetchConfig(dg.Config):
    """The endpoint's filters (vendor defaults). A filtered fetch never marks notes as gone."""

    advertise_switch: AdvertiseSwitch = Field(default=AdvertiseSwitch.ALL, description="ALL or ORGANIC_ONLY")
    order_type: OrderType = Field(default=OrderType.LATEST, description="LATEST, MOST_READ or MOST_INTERACT")
    note_type: NoteType = Field(default=NoteType.ALL, description="ALL, COOPERATION, PHOTO_TEXT or VIDEO")
    is_third_platform: IsThirdPlatform = Field(default=IsThirdPlatform.NO, description="NO or YES")
    # A Literal, not the enum: Dagster's config shows enums by member name (AUTO), and the
    # schedule, the CLI and the docs all say the value (auto).
    mode: Literal["auto", "full", "incremental"] = Field(
        default="full",
        description=(
            "full: every page of each KOL. incremental: newest notes down to the window "
            "(PgyResource.incremental_window_days). auto (the daily schedule): full for the KOLs whose "
            "rota day it is or who were not fully fetched for full_refresh_every_days, incremental for "
            "the rest. An ad-hoc run defaults to full."
        ),
    )
    force: bool = Field(
        default=False,
        description="Fetch even KOLs completed within PgyResource.fresh_for_h (buys their pages again).",
    )

    def query(self, user_id: str) -> NotesQuery:
        return NotesQuery(
            user_id, self.advertise_switch, self.order_type, self.note_type, self.is_third_platform
        )

    def filters(self) -> dict[str, str]:
        return self.query(PLACEHOLDER_USER).filters()


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            NOTE_PAGES,
            description=(
                "Every page of a KOL's notes as the API returned it (exact body, request parameters "
                "without the token, page, fetched-at, run id, HTTP status, code, requestId), kept under "
                "data/raw/<user_id>/<fetch_id>.jsonl so normalisation can be replayed without buying "
                "the data again."
            ),
            partitions_def=kol_partitions,
            skippable=True,
            group_name="kol_notes",
            kinds={"json"},
            owners=["team:data-engineering"],
        ),
        dg.AssetSpec(
            NOTES,
            description=catalog()["notes"].description,
            partitions_def=kol_partitions,
            skippable=True,
            deps=[NOTE_PAGES],
            group_name="kol_notes",
            kinds={"duckdb"},
            owners=["team:data-engineering"],
            metadata={
                "dagster/column_schema": column_schema("notes"),
                "dagster/table_name": "pgy.main.notes",
            },
        ),
    ],
    # Checks run in this step only when selected (see checks.py): never planned-then-skipped.
    check_specs=NOTES_CHECK_SPECS,
    can_subset=True,
    partitions_def=kol_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="justoneapi",
)
def kol_notes(
    context: dg.AssetExecutionContext, config: FetchConfig, api: JustOneApiResource, pgy: PgyResource
) -> Iterator[dg.AssetCheckResult]:
    """Fetch every page of each KOL of the run, keep the raw pages, upsert the notes."""
    if not context.selected_asset_keys:
        # Only checks selected (automation, refresh_engagement): no KOL to fetch.
        yield from run_selected_checks(context, pgy)
        return
    owed = OwedPlannedEvents(context.partition_keys)
    materialised = MaterialisationBuffer(lambda events: log_materialisations(context, events))
    try:
        # SIGINT/SIGTERM (Dagster's Terminate too) end the buying, not the step: what is complete
        # is written, then the run ends canceled (interrupts.py). No check result is yielded
        # inside: Dagster swaps the signal handlers back and forth at each yield.
        with interrupts.stopping() as interrupt:
            end = _refresh(context, config, api, pgy, (owed, materialised), interrupt)
        if interrupt.requested:
            owed.settle_all()  # a canceled run marks no partition failed
            end_interrupted(context, InterruptSummary.of(interrupt.name, end.outcomes, end.calls))
        yield from run_selected_checks(context, pgy)
        fail_if_any_failed(context, end)
    except Exception:
        materialised.flush()  # the KOLs that landed say so, before the others' planned events
        if context.run.tags.get(DEFER_ASSET_EVENTS_TAG) == "true":
            report_planned_events(context, [NOTE_PAGES, NOTES], owed.owed())
        raise


def _refresh(
    context: dg.AssetExecutionContext,
    config: FetchConfig,
    api: JustOneApiResource,
    pgy: PgyResource,
    events: tuple[OwedPlannedEvents, MaterialisationBuffer],
    interrupt: interrupts.Interrupt,
) -> RunEnd:
    """The steps of a refresh, in order; each KOL's outcome is reported the moment it lands."""
    filters = config.filters()
    roster = load_roster(pgy.roster_path)
    warehouse = prepare_warehouse(context, pgy, roster)
    source = claim_source(context, api, pgy, filters)
    raw = pgy.raw()
    run = RunFacts(roster.labels, source.source_id, filters, unfiltered=filters == FetchConfig().filters())
    report = OutcomeReporter(context, events, run, raw, pgy.fresh_for_h)
    refresher = build_refresher(context, api, pgy, (warehouse, raw), config.force, report, interrupt)
    mode = RefreshMode(config.mode)
    plan = plan_run(
        context, pgy, raw, list(context.partition_keys), filters, mode, refresher.how.fresh_for, config.force
    )
    not_fetched = plan.deferred_outcomes() + plan.no_content_outcomes()
    for o in not_fetched:
        report(o)
    outcomes = refresher.refresh(
        [k.user_id for k in plan.to_fetch], filters, plan.stop_before, plan.recent_fetches
    )
    events[1].flush()  # every KOL that landed shows it before the run's end is decided
    outcomes += not_fetched
    log_totals(context, outcomes, warehouse)
    alert_stops(pgy, outcomes, context.run_id, roster.labels)
    alert_drift(pgy, outcomes, context.run_id, roster.labels)
    # Outputs are skippable and never yielded: each KOL's partitions were reported through
    # AssetMaterialization events, as it landed.
    stale = f" {refresher.publish_error}." if refresher.publish_error else ""
    return RunEnd(outcomes, roster.labels, refresher.ledger.total, stale)
