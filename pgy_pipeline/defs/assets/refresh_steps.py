"""The steps of a refresh, as the ``kol_notes`` asset calls them (defs/assets/kol_notes.py).

Each unwraps the Dagster context and calls the core; what has no Dagster in it lives below
(defs/assets/materialisations.py, owed_events.py, defs/metadata.py, refresh/).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import timedelta

import dagster as dg

from pgy_pipeline import interrupts
from pgy_pipeline.defs import kol_tags
from pgy_pipeline.defs.assets.event_buffer import MaterialisationBuffer
from pgy_pipeline.defs.assets.materialisations import RunFacts, materialisations
from pgy_pipeline.defs.assets.owed_events import OwedPlannedEvents, settles
from pgy_pipeline.defs.kol_tags import FailedKol
from pgy_pipeline.defs.metadata import failure_message, outcome_table
from pgy_pipeline.defs.partitions import KOLS_PARTITIONS_NAME
from pgy_pipeline.defs.resources import BudgetedClient, JustOneApiResource, PgyResource
from pgy_pipeline.defs.tags import API_CALLS_TAG, DriftTag, source_tags, stop_tags
from pgy_pipeline.refresh import KolOutcome, KolStatus, Refresher, summarize
from pgy_pipeline.refresh.parts import RefreshSettings, Stores
from pgy_pipeline.roster import Roster
from pgy_pipeline.settings import ApiSource
from pgy_pipeline.warehouse import WarehouseError
from pgy_pipeline.warehouse.backends import AnyWarehouse
from pgy_pipeline.warehouse.prices import PricesError, load_prices
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.state import SourceMismatch
from pgy_pipeline.warehouse.writes import sync_kols


@dataclass(frozen=True)
class RunEnd:
    """What the refresh left for the end of the step."""

    outcomes: list[KolOutcome]
    labels: dict[str, str | None]
    calls: int  # bought in this run
    stale: str  # what a failed last publish left stale ("" when nothing)


def prepare_warehouse(context: dg.AssetExecutionContext, pgy: PgyResource, roster: Roster) -> AnyWarehouse:
    """Prove the warehouse writable before a single page is bought; sync the roster; load prices."""
    warehouse = pgy.warehouse()
    partitions = context.instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME)
    labels, categories = roster.labels, roster.categories
    try:
        # Not published here: a publish copies the whole file (1.45 s for a year-old warehouse of
        # 1,000 KOLs) and would come before the first call; the run's first landed KOLs or its end carry it.
        with warehouse.write(publish=False) as conn:
            sync_kols(conn, [(u, labels.get(u), categories.get(u)) for u in partitions])
            try:
                load_prices(conn, pgy.path)
            except PricesError as exc:
                # An analyst's typo must not stop the data being bought: the last good prices stay.
                context.log.warning("kol_prices not updated: %s", exc)
    except WarehouseError as exc:
        raise dg.Failure(description=f"Cannot write the warehouse, no API call made: {exc}") from None
    return warehouse


def claim_source(
    context: dg.AssetExecutionContext, api: JustOneApiResource, pgy: PgyResource, filters: dict[str, str]
) -> ApiSource:
    """Claim the data dir for this run's API (one data dir, one source), tag the run, say what it does."""
    source = api.source()
    try:
        pgy.claim_source(source)
    except SourceMismatch as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    rate = api.rate_limit()
    context.instance.add_run_tags(context.run_id, source_tags(source.source_id, rate))
    context.log.info(
        "refreshing %d KOL(s) from %s at most %g calls/s with filters %s",
        len(context.partition_keys),
        source.describe(),
        rate,
        json.dumps(filters),
    )
    return source


class OutcomeReporter:
    """Says each KOL's outcome as it lands: a log line, its partitions' materialisations (batched)."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        events: tuple[OwedPlannedEvents, MaterialisationBuffer],
        run: RunFacts,
        raw: RawStore,
        fresh_for_h: float,
    ) -> None:
        self._context, self._run, self._raw, self._fresh_for_h = context, run, raw, fresh_for_h
        self._owed, self._materialised = events

    def __call__(self, o: KolOutcome) -> None:
        log = self._context.log
        if o.status == KolStatus.DEFERRED:  # waits for tomorrow's budget: its partitions keep their status
            log.info("KOL %s %s", o.user_id, o.message)
        elif o.status == KolStatus.NO_CONTENT:  # not a failure; its stored notes stay
            log.warning("KOL %s: %s", o.user_id, o.message)
        elif o.status == KolStatus.SKIPPED:  # its partitions keep the status of the run that bought it
            log.info("KOL %s fetched within %s h: not bought again", o.user_id, self._fresh_for_h)
        elif o.status not in (KolStatus.OK, KolStatus.INTERRUPTED):
            # Interrupted ones get one line for them all at the end (interrupted.py).
            log.warning("KOL %s %s: %s", o.user_id, o.status, o.message)
        raw_file = self._raw.location(o.user_id, str(o.fetch_id)) if o.status == KolStatus.OK else None
        self._materialised.add(materialisations(o, self._run, raw_file))
        if settles(o):
            self._owed.settle(o.user_id)


def build_refresher(
    context: dg.AssetExecutionContext,
    api: JustOneApiResource,
    pgy: PgyResource,
    stores: tuple[AnyWarehouse, RawStore],
    force: bool,
    report: OutcomeReporter,
    interrupt: interrupts.Interrupt,
) -> Refresher:
    warehouse, raw = stores
    how = RefreshSettings(
        kol_workers=pgy.kol_workers,
        retry=pgy.retry_policy(),
        resume_max_age=pgy.resume_max_age(),
        fresh_for=timedelta(0) if force else pgy.fresh_for(),
    )
    opener = BudgetedClient(api, pgy.budget_guard())
    return Refresher(opener, Stores(warehouse, raw, pgy.state()), how, context.run_id, report, interrupt)


def log_totals(
    context: dg.AssetExecutionContext, outcomes: list[KolOutcome], warehouse: AnyWarehouse
) -> None:
    context.log.info("refresh done: %s", json.dumps(dataclasses.asdict(summarize(outcomes))))
    for edit in warehouse.kept_edits:
        context.log.warning(edit.message)


def fail_if_any_failed(context: dg.AssetExecutionContext, end: RunEnd) -> None:
    """Tag the run with its failed KOLs and fail the step, so exactly their partitions are FAILED."""
    outcomes = end.outcomes
    failed = [o for o in outcomes if o.failed]
    totals = summarize(outcomes)
    if failed:
        entries = [FailedKol.of(o) for o in failed]
        tags = {**kol_tags.encode(entries), API_CALLS_TAG: str(totals.api_calls), **stop_tags(failed)}
        drifted = next((o for o in failed if o.drift_key), None)
        if drifted is not None:
            tags |= DriftTag(str(drifted.drift_key), drifted.drift or "").encode()
        context.instance.add_run_tags(context.run_id, tags)
        raise dg.Failure(
            description=failure_message(failed, len(outcomes)) + end.stale,
            metadata={
                "failed_kols": dg.MetadataValue.md(outcome_table(failed, end.labels)),
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
    if end.stale:
        # Every KOL landed; the readers' snapshot lags until a later publish succeeds.
        raise dg.Failure(description=f"{totals.kols_ok} KOL(s) stored, but{end.stale}", allow_retries=False)
