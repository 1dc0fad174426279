"""Dagster resources: the Just One API client and the pipeline's storage and knobs."""

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field

from pgy_pipeline import settings
from pgy_pipeline.justoneapi import (
    DEFAULT_RATE_LIMIT_PER_S,
    BudgetExhausted,
    CallRecord,
    ClientConfig,
    ClientSettings,
    NotesDetailClient,
    UnbilledLimitReached,
    is_billed,
)
from pgy_pipeline.refresh.handoff import CallLedger
from pgy_pipeline.refresh.modes import DEFAULT_FULL_EVERY_DAYS, DEFAULT_WINDOW_DAYS
from pgy_pipeline.refresh.plan import PlanSettings
from pgy_pipeline.settings import ApiSource
from pgy_pipeline.warehouse.backends import AnyWarehouse, open_raw, open_warehouse
from pgy_pipeline.warehouse.engagement_settings import DEFAULTS as FIGURES
from pgy_pipeline.warehouse.engagement_settings import DESCRIPTIONS as FIGURE_DOCS
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.state import PipelineState, RetryPolicy
from pgy_pipeline.warehouse.state_budget import BudgetBlocks

log = logging.getLogger(__name__)

# Not a secret: the bundled simulator accepts any token but this one is what we send it.
SIMULATOR_TOKEN = "simulator-token"


class JustOneApiResource(dg.ConfigurableResource, ClientSettings):
    """Just One API's Notes Details (V1) endpoint, or a simulator when no token is set.

    The token is not configuration: it is read from ``JUSTONEAPI_TOKEN`` where the run
    executes, so its value never enters run config, the UI or the event log, and a code
    server without the token cannot silently turn a production run into a simulated one
    (the data dir's recorded source refuses it). With no token and no ``base_url``, each
    run starts the simulator in-process on a loopback port.

    The client's knobs (timeouts, attempts, rate, page cap...) are ClientSettings' fields, inherited
    with their bounds and descriptions: a bad value fails when the resource is built, naming its
    field, and a bad value in a launched run's config fails when the run builds its resources,
    before any step makes a call.
    """

    token: str | None = Field(
        default=None, description="Leave unset: JUSTONEAPI_TOKEN is read where the run executes."
    )
    base_url: str | None = Field(
        default=None,
        description="Override of the API base URL (default: JUSTONEAPI_BASE_URL, else prod-global).",
    )
    simulator_profile: str | None = Field(
        default=None,
        description="Fault profile of the embedded simulator (default: PGY_SIMULATOR_PROFILE, else realistic).",
    )
    simulator_seed: int = Field(default=0, description="Data seed of the embedded simulator.")

    def source(self) -> ApiSource:
        """The API a run would call, resolved now (call it where the run executes)."""
        return settings.api_source(self.token, self.base_url)

    def rate_limit(self) -> float:
        """The token's calls per second for a run, resolved now: the field, else the environment."""
        if self.rate_limit_per_s is not None:
            return self.rate_limit_per_s
        return settings.rate_limit_per_s() or DEFAULT_RATE_LIMIT_PER_S

    @contextlib.contextmanager
    def open_client(
        self,
        observer: Callable[[CallRecord], None] | None = None,
        before_call: Callable[[], None] | None = None,
        after_call: Callable[[CallRecord], None] | None = None,
    ) -> Iterator[NotesDetailClient]:
        with contextlib.ExitStack() as stack:
            source = self.source()
            token, base_url = source.token or SIMULATOR_TOKEN, source.base_url
            if base_url is None:
                from pgy_pipeline.simulator import Simulator

                # Newest simulated note = the pipeline's today (PGY_TODAY pins it), so the
                # 30/90-day windows have data in demos and a simulated day is a whole day.
                today = settings.today()
                profile = self.simulator_profile or settings.simulator_profile()
                sim = stack.enter_context(
                    Simulator(profile=profile, seed=self.simulator_seed, anchor_date=today)
                )
                base_url = sim.base_url
            knobs = {name: getattr(self, name) for name in ClientSettings.model_fields}
            config = ClientConfig(
                **{**knobs, "rate_limit_per_s": self.rate_limit()}, token=token, base_url=base_url
            )
            client = stack.enter_context(
                NotesDetailClient(config, observer, before_call, after_call=after_call, clock=settings.now)
            )
            yield client


class BudgetGuard:
    """Reserves a billed call before each call and gives it back when the answer was not billed.

    The code of an answer is unknown until it comes, so the cap holds only if every call in flight
    holds a reservation: the budget is never exceeded, whatever they answer, across threads and
    processes. Unbilled answers are counted apart and stop all calls at their own limit.
    Reservations are taken from the state in blocks (warehouse/state_budget.py); ``holding`` gives
    back what the client did not use when it closes.
    """

    def __init__(self, state: PipelineState, budget: int | None, unbilled_limit: int | None) -> None:
        self.state, self.budget, self.unbilled_limit = state, budget, unbilled_limit
        self.blocks = BudgetBlocks(state, budget, unbilled_limit)

    def before_call(self) -> None:
        refused = self.blocks.take(settings.now())
        if refused == "budget":
            raise BudgetExhausted(
                f"the daily budget of {self.budget} billed calls is spent (PGY_DAILY_CALL_BUDGET)"
            )
        if refused == "unbilled":
            raise UnbilledLimitReached(
                f"{self.unbilled_limit} calls today were not billed: the API keeps failing "
                "(PGY_DAILY_UNBILLED_CALL_LIMIT)"
            )

    def after_call(self, record: CallRecord) -> None:
        if not is_billed(record.http_status, record.code):
            self.blocks.settle_unbilled(record.at)

    @contextlib.contextmanager
    def holding(
        self, client: contextlib.AbstractContextManager[NotesDetailClient]
    ) -> Iterator[NotesDetailClient]:
        """``client`` entered; when it closes (normally or not), its unused reservations go back."""
        try:
            with client as entered:
                yield entered
        finally:
            self.blocks.release()


@dataclasses.dataclass(frozen=True)
class BudgetedClient:
    """The refresh's ClientOpener (refresh/parts.py): the resource's client, every call under the guard."""

    api: JustOneApiResource
    guard: BudgetGuard

    def open(self, ledger: CallLedger) -> contextlib.AbstractContextManager[NotesDetailClient]:
        return self.guard.holding(self.api.open_client(ledger, self.guard.before_call, self.guard.after_call))


class PgyResource(dg.ConfigurableResource):
    """Where the pipeline keeps its data, and the knobs of spending and retrying."""

    data_dir: str | None = Field(
        default=None,
        description="Directory of pgy.duckdb, raw pages and state (default: PGY_DATA_DIR, else data/).",
    )
    kol_workers: int = Field(default=8, description="KOLs fetched concurrently within one run.")
    daily_call_budget: int | None = Field(
        default=None,
        description="Most billed calls (codes 0 and 201) per day (Asia/Shanghai) across all runs (default: PGY_DAILY_CALL_BUDGET, else no cap).",
    )
    daily_unbilled_call_limit: int | None = Field(
        default=None,
        description=(
            "Most calls per day the vendor does not bill (301, 500, ...) before all calls stop: a guard "
            "against retrying a failing API for ever (default: PGY_DAILY_UNBILLED_CALL_LIMIT, else 50,000)."
        ),
    )
    no_content_recheck_days: int = Field(
        default=30,
        ge=1,
        description=(
            "A KOL whose listing answered code 201 (no content; billed) is not bought again for this many "
            "days; `pgy refresh --force` (run config `force: true`) buys it at once."
        ),
    )
    retry_cooldown_s: float = Field(default=300.0, description="First wait before re-running a failed KOL.")
    retry_max_attempts: int = Field(default=4, description="Attempts at a KOL before the sensor gives up.")
    resume_max_age_h: float = Field(
        default=24.0, description="Reuse pages of an interrupted fetch this recent."
    )
    fresh_for_h: float = Field(
        default=12.0,
        description=(
            "A KOL fetched completely with the same filters within this many hours is not bought again "
            "(a restart after a crash finishes the refresh at no cost); 0 = always fetch. Run config "
            "`force: true` overrides it."
        ),
    )
    full_refresh_every_days: int = Field(
        default=DEFAULT_FULL_EVERY_DAYS,
        ge=1,
        description=(
            "In auto mode (the daily schedule) each KOL gets a full fetch every this many days, on a day "
            "picked by a hash of its user id so the spend stays even; the other days are incremental."
        ),
    )
    incremental_window_days: int = Field(
        default=DEFAULT_WINDOW_DAYS,
        ge=1,
        description=(
            "An incremental fetch re-reads the notes of the last this many days (newest first) and stops; "
            "older notes keep the metrics of the last full fetch (README, 'Refresh modes')."
        ),
    )
    # The derived figures' knobs: defaults and descriptions live in warehouse/engagement_settings.py.
    viral_low_likes: int = Field(default=FIGURES.viral_low_likes, description=FIGURE_DOCS["viral_low_likes"])
    viral_high_likes: int = Field(
        default=FIGURES.viral_high_likes, description=FIGURE_DOCS["viral_high_likes"]
    )
    peer_min_kols: int = Field(default=FIGURES.peer_min_kols, description=FIGURE_DOCS["peer_min_kols"])
    price_stale_days: int = Field(
        default=FIGURES.price_stale_days, description=FIGURE_DOCS["price_stale_days"]
    )
    lifecycle_tolerance_days: int = Field(
        default=FIGURES.lifecycle_tolerance_days, description=FIGURE_DOCS["lifecycle_tolerance_days"]
    )
    rising_min_notes: int = Field(
        default=FIGURES.rising_min_notes, description=FIGURE_DOCS["rising_min_notes"]
    )
    flag_min_notes: int = Field(default=FIGURES.flag_min_notes, description=FIGURE_DOCS["flag_min_notes"])
    flag_rate_factor: float = Field(
        default=FIGURES.flag_rate_factor, description=FIGURE_DOCS["flag_rate_factor"]
    )
    flag_jump_reads: int = Field(default=FIGURES.flag_jump_reads, description=FIGURE_DOCS["flag_jump_reads"])
    flag_cadence_factor: float = Field(
        default=FIGURES.flag_cadence_factor, description=FIGURE_DOCS["flag_cadence_factor"]
    )
    publish_interval_s: float = Field(
        default=2.0,
        description=(
            "Least seconds between snapshot publishes during a run (and at least ten times the last "
            "publish's duration, so a big warehouse is not copied most of the time); 0: after every write."
        ),
    )

    @property
    def path(self) -> Path:
        return Path(self.data_dir) if self.data_dir else settings.data_dir()

    @property
    def reports_dir(self) -> Path:
        return self.path / "reports"

    @property
    def roster_path(self) -> Path:
        return settings.roster_path(self.path)

    def call_budget(self) -> int | None:
        return self.daily_call_budget if self.daily_call_budget is not None else settings.daily_call_budget()

    def unbilled_call_limit(self) -> int:
        limit = self.daily_unbilled_call_limit
        return limit if limit is not None else settings.daily_unbilled_call_limit()

    def claim_source(self, source: ApiSource) -> None:
        """Refuse, before anything is bought, a source other than the one that filled this data dir."""
        self.state().claim_source(
            source.source_id, holds_data=self.raw().holds_data(), simulated=source.simulated
        )

    def warehouse(self) -> AnyWarehouse:
        """The DuckDB file under the data dir, or the lake of PGY_WAREHOUSE_URL."""
        return open_warehouse(self.path, publish_interval_s=self.publish_interval_s)

    def raw(self) -> RawStore:
        """Raw pages under the data dir, or in the bucket of PGY_RAW_URL."""
        return open_raw(self.path)

    def state(self) -> PipelineState:
        return PipelineState(self.path)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(cooldown_s=self.retry_cooldown_s, max_attempts=self.retry_max_attempts)

    def resume_max_age(self) -> timedelta:
        return timedelta(hours=self.resume_max_age_h)

    def fresh_for(self) -> timedelta:
        return timedelta(hours=self.fresh_for_h)

    def plan_settings(self, fresh_for: timedelta | None = None) -> PlanSettings:
        return PlanSettings(
            window_days=self.incremental_window_days,
            full_every_days=self.full_refresh_every_days,
            fresh_for=self.fresh_for() if fresh_for is None else fresh_for,
            resume_max_age=self.resume_max_age(),
            no_content_recheck=timedelta(days=self.no_content_recheck_days),
        )

    def engagement(self) -> EngagementSettings:
        return EngagementSettings(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(EngagementSettings)}
        )

    def budget_guard(self) -> BudgetGuard:
        """The client's ``before_call``/``after_call`` hooks: the daily budget of billed calls."""
        return BudgetGuard(self.state(), self.call_budget(), self.unbilled_call_limit())
