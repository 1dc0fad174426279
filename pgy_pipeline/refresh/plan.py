"""The plan of a refresh: each KOL's kind of fetch, the calls it will cost, and who waits for tomorrow.

The estimate uses only what is known, so it is cheap (one query, no API call):
- the KOL's live notes and its publishing cadence (notes per day over 90 days), which give the
  notes the API lists today: stored ones plus those published since the last refresh;
- the kind of fetch (modes.py): a full fetch reads ceil(notes / page size) pages (one for a
  KOL with none); an incremental one reads pages newest first until a page holds a note older
  than the window, i.e. floor(notes in window / page size) + 1 pages, at most the full count;
- the page size learned from stored pages (the API documents none);
- pages an interrupted fetch stored (reused, not bought again) and KOLs fetched recently
  (skipped: the step hands these to the engine, which skips them without searching again);
- calls per page obtained, observed in ``api_calls`` (the overhead of 301 retries and the like).

**No content**: a KOL whose whole listing answered code 201 (billed) is not bought again until
``no_content_recheck`` has passed (or a person forces it): buying "nothing here" every day buys nothing.

**Budget priority**: with a daily call budget that cannot cover the roster, KOLs go stalest
first (by their last successful refresh, never-fetched first) while the estimate fits in what
is left of today's budget; the rest wait for tomorrow (reported, never silently dropped).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb

from pgy_pipeline.justoneapi import NotesQuery
from pgy_pipeline.refresh.modes import (
    EVIDENCE_WINDOW,
    FetchKind,
    RefreshMode,
    choose_kinds,
    confirmation_pays,
    window_start,
)
from pgy_pipeline.refresh.outcomes import KolOutcome, KolStatus
from pgy_pipeline.warehouse.history import KolHistory, calls_per_page, kol_histories, learned_page_size
from pgy_pipeline.warehouse.queries import listing_glitches
from pgy_pipeline.warehouse.raw import RawStore

# Used only until a page has been stored: the page size the API was observed to answer
# (api/FACTS.md); every stored page replaces it with what the API actually sends.
PRIOR_PAGE_SIZE = 8


@dataclass(frozen=True)
class PlanSettings:
    window_days: int
    full_every_days: int
    fresh_for: timedelta = timedelta(0)
    resume_max_age: timedelta = timedelta(hours=24)
    no_content_recheck: timedelta = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class KolPlan:
    user_id: str
    kind: FetchKind
    stop_before: date | None  # incremental fetches only
    notes_expected: float
    pages: int  # pages the fetch will hold
    pages_reusable: int  # stored by an interrupted fetch: no call
    calls: float  # estimated billed calls
    skipped: bool  # fetched recently: nothing will be bought
    last_refresh_at: datetime | None
    waits: bool = False  # over today's budget: waits for tomorrow
    recent_fetch: str | None = None  # when skipped: the recent fetch that makes buying unnecessary
    # Answered 201 (no content) at this time, recently enough that it is not bought again.
    no_content_since: datetime | None = None


@dataclass(frozen=True)
class RefreshPlan:
    day: date
    mode: RefreshMode
    kols: list[KolPlan]  # in refresh order (stalest first)
    page_size: int
    calls_per_page: float
    budget: int | None
    spent_today: int
    messages: list[str] = field(default_factory=list)  # what the estimate had to assume
    no_content_recheck: timedelta = timedelta(days=30)

    @property
    def to_fetch(self) -> list[KolPlan]:
        return [k for k in self.kols if not k.waits and k.no_content_since is None]

    @property
    def no_content(self) -> list[KolPlan]:
        return [k for k in self.kols if k.no_content_since is not None]

    @property
    def waiting(self) -> list[str]:
        return [k.user_id for k in self.kols if k.waits]

    @property
    def total_calls(self) -> float:
        return sum(k.calls for k in self.to_fetch)

    @property
    def recent_fetches(self) -> dict[str, str]:
        """KOLs fetched recently, with that fetch: the engine skips them as the plan decided."""
        return {k.user_id: k.recent_fetch for k in self.to_fetch if k.recent_fetch is not None}

    @property
    def stop_before(self) -> dict[str, date]:
        return {k.user_id: k.stop_before for k in self.to_fetch if k.stop_before is not None}

    def deferred_outcomes(self) -> list[KolOutcome]:
        left = None if self.budget is None else max(0, self.budget - self.spent_today)
        return [
            KolOutcome(
                u,
                KolStatus.DEFERRED,
                message=f"waits for tomorrow: today's call budget ({left} calls left) covers the staler KOLs first",
            )
            for u in self.waiting
        ]

    def no_content_outcomes(self) -> list[KolOutcome]:
        """The KOLs not bought because they answered 201 lately, each saying until when."""
        return [
            KolOutcome(
                k.user_id,
                KolStatus.NO_CONTENT,
                message=(
                    f"no content (code 201) on {k.no_content_since:%Y-%m-%d}: not bought again before "
                    f"{k.no_content_since + self.no_content_recheck:%Y-%m-%d} (no_content_recheck_days), "
                    "unless forced (`pgy refresh --force`)"
                ),
            )
            for k in self.no_content
            if k.no_content_since is not None
        ]


def estimate_pages(
    kind: FetchKind, h: KolHistory, size: int, day: date, stop_before: date | None
) -> tuple[float, int]:
    """(notes the API is expected to list, pages the fetch will read) for one known KOL."""
    since = (day - h.last_refresh_day).days if h.last_refresh_day else 0
    new = h.notes_per_day * max(0, since)
    total = h.live_notes + new
    full_pages = max(1, math.ceil(round(total) / size))
    if kind is FetchKind.FULL or stop_before is None:
        return total, full_pages
    return total, min(round(h.notes_in_window + new) // size + 1, full_pages)


def fetched_recently(
    raw: RawStore, user_id: str, fingerprint: str, fresh_for: timedelta, now: datetime, *, incremental: bool
) -> str | None:
    """The fetch that makes buying ``user_id`` again unnecessary, if any: one completed within
    ``fresh_for`` (0: none counts) with the same filters. A full refresh is not made unnecessary
    by a recent incremental one. The one home of this rule (the plan and the engine ask it)."""
    if fresh_for <= timedelta(0):
        return None
    return raw.done_within(user_id, fingerprint, fresh_for, now, full_only=not incremental)


def _confirmations(
    conn: duckdb.DuckDBPyConnection | None,
    hist: Mapping[str, KolHistory],
    mode: RefreshMode,
    now: datetime,
    messages: list[str],
) -> set[str]:
    """The KOLs that missed notes and whose confirming full fetch pays; says in ``messages`` who waits."""
    # Only auto mode chooses by the evidence of missed notes; the other modes never confirm.
    awaiting = [u for u, h in hist.items() if h.awaiting_confirmation] if mode is RefreshMode.AUTO else []
    evidence = listing_glitches(conn, awaiting, now - EVIDENCE_WINDOW) if conn is not None else {}
    confirm = {u for u in awaiting if confirmation_pays(*evidence.get(u, (0, 0)))}
    if len(confirm) < len(awaiting):
        messages.append(
            f"{len(awaiting) - len(confirm)} KOL(s) missed notes, but their listings lately left out more "
            "live notes than were deleted: those notes wait for the rota's full fetch"
        )
    return confirm


def make_plan(
    conn: duckdb.DuckDBPyConnection | None,
    raw: RawStore,
    user_ids: Sequence[str],
    mode: RefreshMode,
    day: date,
    now: datetime,
    settings: PlanSettings,
    filters: Mapping[str, str] | None = None,
    budget: int | None = None,
    spent_today: int = 0,
    no_content: Mapping[str, datetime] | None = None,
) -> RefreshPlan:
    """The plan of refreshing ``user_ids`` on ``day``; ``conn`` None means nothing is known yet.

    ``no_content``: KOLs that answered 201 and when (PipelineState.no_content); pass none to force.
    """
    start = window_start(day, settings.window_days)
    hist = kol_histories(conn, user_ids, day, start) if conn is not None else {}
    learned = learned_page_size(conn) if conn is not None else None
    size = learned or PRIOR_PAGE_SIZE
    observed = calls_per_page(conn) if conn is not None else None
    overhead = observed or 1.0
    messages = [] if learned else [f"page size not yet observed: {PRIOR_PAGE_SIZE} assumed"]
    messages += [] if observed else ["no call in the ledger yet: no retry overhead assumed"]
    confirm = _confirmations(conn, hist, mode, now, messages)
    kinds = choose_kinds(
        user_ids,
        mode,
        day,
        settings.full_every_days,
        {u: h.last_full_day for u, h in hist.items()},
        filters,
        confirm=confirm,
    )
    known = [h for h in hist.values() if h.last_refresh_at is not None]
    # A KOL never fetched costs what an average known KOL's full fetch costs (1 page if none known).
    unknown_pages = sum(max(1, math.ceil(h.live_notes / size)) for h in known) / len(known) if known else 1.0
    plans: list[KolPlan] = []
    for u in user_ids:
        h = hist.get(u)
        kind = kinds[u]
        stop = start if kind is FetchKind.INCREMENTAL else None
        fingerprint = NotesQuery(u, **(filters or {})).fingerprint()
        if h is None or h.last_refresh_at is None:
            expected, pages = unknown_pages * size, max(1, round(unknown_pages))
        else:
            expected, pages = estimate_pages(kind, h, size, day, stop)
        recent = fetched_recently(raw, u, fingerprint, settings.fresh_for, now, incremental=stop is not None)
        skipped = recent is not None
        resumable = raw.resumable(u, fingerprint, settings.resume_max_age, now)
        reusable = len(raw.pages(u, resumable)) if resumable else 0
        since = (no_content or {}).get(u)
        resting = since if since is not None and now - since < settings.no_content_recheck else None
        calls = 0.0 if skipped or resting else max(0, pages - reusable) * overhead
        last = h.last_refresh_at if h else None
        plans.append(
            KolPlan(
                u,
                kind,
                stop,
                expected,
                pages,
                reusable,
                calls,
                skipped,
                last,
                recent_fetch=recent,
                no_content_since=resting,
            )
        )
    plan = RefreshPlan(
        day, mode, plans, size, overhead, budget, spent_today, messages, settings.no_content_recheck
    )
    return prioritise(plan)


def prioritise(plan: RefreshPlan) -> RefreshPlan:
    """Stalest first; with a budget, the KOLs past what is left of it wait for tomorrow."""
    order = sorted(
        plan.kols,
        key=lambda k: (k.last_refresh_at is not None, k.last_refresh_at and k.last_refresh_at.timestamp()),
    )
    if plan.budget is None:
        return dataclasses.replace(plan, kols=order)
    left = max(0, plan.budget - plan.spent_today)
    used, out, full = 0.0, [], False
    for k in order:
        if k.no_content_since is not None:  # not bought at all: never waits
            out.append(k)
            continue
        full = full or (used + k.calls > left and k.calls > 0)
        if full:
            out.append(dataclasses.replace(k, waits=True))
        else:
            used += k.calls
            out.append(k)
    return dataclasses.replace(plan, kols=out)
