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

import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Literal

import dagster as dg
from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent
from dagster._core.storage.tags import EXTERNALLY_MANAGED_ASSETS_TAG
from pydantic import Field

from pgy_pipeline import interrupts
from pgy_pipeline.alerts import drift_tag
from pgy_pipeline.defs import kol_tags
from pgy_pipeline.defs.alerts import alert_drift, alert_stops
from pgy_pipeline.defs.assets.interrupted import end_interrupted
from pgy_pipeline.defs.assets.metadata import (
    column_schema,
    failure_message,
    no_content_metadata,
    outcome_table,
)
from pgy_pipeline.defs.assets.refresh_plan import plan_run
from pgy_pipeline.defs.checks import NOTES_CHECK_SPECS, NOTES_KEY, run_selected_checks
from pgy_pipeline.defs.kol_tags import FailedKol
from pgy_pipeline.defs.partitions import KOLS_PARTITIONS_NAME, kol_partitions
from pgy_pipeline.defs.resources import JustOneApiResource, PgyResource
from pgy_pipeline.defs.tags import RATE_TAG, SCHEMA_DRIFT_TAG
from pgy_pipeline.justoneapi import AdvertiseSwitch, IsThirdPlatform, NotesQuery, NoteType, OrderType
from pgy_pipeline.refresh import KolOutcome, KolStatus, Refresher, summarize
from pgy_pipeline.refresh.modes import RefreshMode
from pgy_pipeline.refresh.outcomes import InterruptSummary
from pgy_pipeline.roster import load_roster
from pgy_pipeline.warehouse import WarehouseError
from pgy_pipeline.warehouse.catalog import catalog
from pgy_pipeline.warehouse.prices import PricesError, load_prices
from pgy_pipeline.warehouse.state import SourceMismatch
from pgy_pipeline.warehouse.writes import sync_kols

NOTE_PAGES = dg.AssetKey("note_pages")
# Filters are validated through NotesQuery, which needs some user id.
PLACEHOLDER_USER = "any"
NOTES = NOTES_KEY  # declared with the checks on it (defs/checks.py)
# "dagster/defer_asset_events": no planned events at run creation; see the module docstring.
DEFER_ASSET_EVENTS_TAG = EXTERNALLY_MANAGED_ASSETS_TAG


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
    landed: set[str] = set()
    try:
        # SIGINT/SIGTERM (Dagster's Terminate too) end the buying, not the step: what is complete
        # is written, then the run ends canceled (interrupts.py). No check result is yielded
        # inside: Dagster swaps the signal handlers back and forth at each yield.
        with interrupts.stopping() as interrupt:
            outcomes, labels, calls, stale = _refresh_kols(context, config, api, pgy, landed, interrupt)
        if interrupt.requested:
            landed.update(context.partition_keys)  # a canceled run marks no partition failed
            end_interrupted(context, InterruptSummary.of(interrupt.name, outcomes, calls))
        yield from run_selected_checks(context, pgy)
        _fail_if_any_failed(context, outcomes, labels, stale)
    except Exception:
        if context.run.tags.get(DEFER_ASSET_EVENTS_TAG) == "true":
            _log_planned(context, [u for u in context.partition_keys if u not in landed])
        raise


def _log_planned(context: dg.AssetExecutionContext, user_ids: list[str]) -> None:
    """The planned events Dagster left to this step, for the KOLs whose partitions failed."""
    step_key = context.op_execution_context.get_step_execution_context().step.key
    for user_id in user_ids:
        for key in (NOTE_PAGES, NOTES):
            event = DagsterEvent.build_asset_materialization_planned_event(
                context.run.job_name, step_key, AssetMaterializationPlannedData(key, partition=user_id)
            )
            context.instance.report_dagster_event(event, context.run_id, logging.DEBUG)


def _refresh_kols(
    context: dg.AssetExecutionContext,
    config: FetchConfig,
    api: JustOneApiResource,
    pgy: PgyResource,
    landed: set[str],
    interrupt: interrupts.Interrupt,
) -> tuple[list[KolOutcome], dict[str, str | None], int, str]:
    """The step's work: each KOL's outcome, the roster's labels, the calls bought, and what a failed
    last publish left stale ("" when nothing).

    Adds to ``landed`` each KOL whose partitions need no planned event.
    """
    user_ids = list(context.partition_keys)
    filters = config.filters()
    warehouse = pgy.warehouse()
    roster = load_roster(pgy.roster_path)
    labels = roster.labels
    partitions = context.instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME)
    try:
        # Also proves the warehouse is writable before a single page is bought.
        with warehouse.write() as conn:
            categories = roster.categories
            sync_kols(conn, [(u, labels.get(u), categories.get(u)) for u in partitions])
            try:
                load_prices(conn, pgy.path)
            except PricesError as exc:
                # An analyst's typo must not stop the data being bought: the last good prices stay.
                context.log.warning("kol_prices not updated: %s", exc)
    except WarehouseError as exc:
        raise dg.Failure(description=f"Cannot write the warehouse, no API call made: {exc}") from None
    source = api.source()
    try:
        pgy.claim_source(source)
    except SourceMismatch as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    rate = api.rate_limit()
    context.instance.add_run_tags(context.run_id, {"pgy/source": source.source_id, RATE_TAG: f"{rate:g}"})
    context.log.info(
        "refreshing %d KOL(s) from %s at most %g calls/s with filters %s",
        len(user_ids),
        source.describe(),
        rate,
        json.dumps(filters),
    )
    raw = pgy.raw()
    unfiltered = filters == FetchConfig().filters()

    def report(o: KolOutcome) -> None:
        if o.status == KolStatus.DEFERRED:
            # Waits for tomorrow's budget: its partitions keep their status.
            landed.add(o.user_id)
            context.log.info("KOL %s %s", o.user_id, o.message)
            return
        if o.status == KolStatus.NO_CONTENT:
            # Not a failure; its stored notes stay. Answered in this run: its partitions say so.
            landed.add(o.user_id)
            context.log.warning("KOL %s: %s", o.user_id, o.message)
            if o.fetch_id is not None:
                md = {"label": labels.get(o.user_id) or "", **no_content_metadata(o)}
                for key in (NOTE_PAGES, NOTES):
                    context.log_event(dg.AssetMaterialization(key, partition=o.user_id, metadata=md))
            return
        if o.status == KolStatus.SKIPPED:
            # Its partitions keep the status of the run that bought it.
            landed.add(o.user_id)
            context.log.info("KOL %s fetched within %s h: not bought again", o.user_id, pgy.fresh_for_h)
            return
        if o.status == KolStatus.INTERRUPTED:
            return  # one line for them all at the end (interrupted.py), not an event per KOL
        if o.status != KolStatus.OK:
            context.log.warning("KOL %s %s: %s", o.user_id, o.status, o.message)
            return
        kol = {"label": labels.get(o.user_id) or "", "source": source.source_id}
        context.log_event(
            dg.AssetMaterialization(
                NOTE_PAGES,
                partition=o.user_id,
                metadata={
                    **kol,
                    "pages": o.pages,
                    "pages_reused": o.pages_reused,
                    "api_calls": o.calls,
                    "retries": o.retries,
                    "codes": o.codes and {str(k): v for k, v in o.codes.items()},
                    "reported_total": o.reported_total,
                    "stop_reason": o.stop_reason,
                    "fetch_id": o.fetch_id,
                    "raw_file": dg.MetadataValue.path(raw.location(o.user_id, str(o.fetch_id))),
                    "filters": filters,
                },
            )
        )
        context.log_event(
            dg.AssetMaterialization(
                NOTES,
                partition=o.user_id,
                metadata={
                    **kol,
                    "dagster/row_count": o.notes,
                    "notes": o.notes,
                    "notes_new": o.notes_new,
                    "marked_gone": o.marked_gone,
                    "notes_revived": o.notes_revived,
                    "null_metrics": o.null_metrics,
                    "dates_unreadable": o.dates_unreadable,
                    "duplicates_dropped": o.duplicates_dropped,
                    "complete": o.complete,
                    "full_fetch": unfiltered and not o.incremental,
                    "fetch_kind": "incremental" if o.incremental else "full",
                    "duration_s": round(o.duration_s, 2),
                },
            )
        )
        landed.add(o.user_id)

    guard = pgy.budget_guard()
    refresher = Refresher(
        client_factory=lambda observer: guard.holding(
            api.open_client(observer, guard.before_call, guard.after_call)
        ),
        warehouse=warehouse,
        raw=raw,
        state=pgy.state(),
        run_id=context.run_id,
        kol_workers=pgy.kol_workers,
        retry=pgy.retry_policy(),
        resume_max_age=pgy.resume_max_age(),
        fresh_for=timedelta(0) if config.force else pgy.fresh_for(),
        on_outcome=report,
        interrupt=interrupt,
    )
    plan = plan_run(
        context, pgy, raw, user_ids, filters, RefreshMode(config.mode), refresher.fresh_for, config.force
    )
    deferred = plan.deferred_outcomes() + plan.no_content_outcomes()
    for o in deferred:
        report(o)
    outcomes = refresher.refresh([k.user_id for k in plan.to_fetch], filters, plan.stop_before, plan.fresh)
    outcomes += deferred
    totals = summarize(outcomes)
    context.log.info("refresh done: %s", json.dumps(dataclasses.asdict(totals)))
    for edit in warehouse.kept_edits:
        context.log.warning(edit.message)
    alert_stops(pgy, outcomes, context.run_id, labels)
    alert_drift(pgy, outcomes, context.run_id, labels)
    # Outputs are skippable and never yielded: each KOL's partitions were reported through
    # AssetMaterialization events above, as it landed.
    stale = f" {refresher.publish_error}." if refresher.publish_error else ""
    return outcomes, labels, refresher.ledger.total, stale


def _fail_if_any_failed(
    context: dg.AssetExecutionContext, outcomes: list[KolOutcome], labels: dict[str, str | None], stale: str
) -> None:
    failed = [o for o in outcomes if o.failed]
    totals = summarize(outcomes)
    if failed:
        entries = [FailedKol.of(o) for o in failed]
        tags = {**kol_tags.encode(entries), "pgy/api_calls": str(totals.api_calls)}
        drifted = next((o for o in failed if o.drift_key), None)
        if drifted is not None:
            tags[SCHEMA_DRIFT_TAG] = drift_tag(str(drifted.drift_key), drifted.drift or "")
        context.instance.add_run_tags(context.run_id, tags)
        raise dg.Failure(
            description=failure_message(failed, len(outcomes)) + stale,
            metadata={
                "failed_kols": dg.MetadataValue.md(outcome_table(failed, labels)),
                # Every failed KOL, where the tag has no room (same format as pgy/failed_kols).
                "failed_kols_all": dg.MetadataValue.text(kol_tags.encode_failed(entries, limit=None)),
                "kols_ok": totals.kols_ok,
                "kols_failed": len(failed),
                "api_calls": totals.api_calls,
                "retries": totals.retries,
                "codes": totals.codes,
            },
            allow_retries=False,
        )
    if stale:
        # Every KOL landed; the readers' snapshot lags until a later publish succeeds.
        raise dg.Failure(description=f"{totals.kols_ok} KOL(s) stored, but{stale}", allow_retries=False)
