"""The plan of a KOL refresh inside the Dagster step: modes, estimate, budget priority, in the UI.

The plan is made from the working copy before a single call (one query), logged, and put on
the run as tags (estimated calls, full and incremental KOLs, KOLs waiting for tomorrow), so the
run's page in the UI shows what the run meant to spend beside what it spent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import dagster as dg

from pgy_pipeline import settings
from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.defs.tags import PlanTags
from pgy_pipeline.refresh.modes import FetchKind, RefreshMode
from pgy_pipeline.refresh.plan import RefreshPlan, make_plan
from pgy_pipeline.warehouse.raw import RawStore


def plan_run(
    context: dg.AssetExecutionContext,
    pgy: PgyResource,
    raw: RawStore,
    user_ids: Sequence[str],
    filters: Mapping[str, str],
    mode: RefreshMode,
    fresh_for: timedelta,
    force: bool = False,
) -> RefreshPlan:
    """``force``: a person asked for these KOLs now; those that answered 201 lately are bought too."""
    now = settings.now()
    state = pgy.state()
    with pgy.warehouse().read_working() as conn:
        plan = make_plan(
            conn,
            raw,
            user_ids,
            mode,
            settings.today(),
            now,
            pgy.plan_settings(fresh_for),
            filters,
            budget=pgy.call_budget(),
            spent_today=state.spent(now),
            no_content=None if force else state.no_content(),
        )
    full = sum(k.kind is FetchKind.FULL for k in plan.to_fetch)
    tags = PlanTags(
        mode.value,
        plan.day.isoformat(),
        round(plan.total_calls),
        full,
        len(plan.to_fetch) - full,
        tuple(plan.waiting),
    )
    context.log.info(
        "plan for %s (%s mode): %d full, %d incremental, ~%d calls (%d notes/page, %.3f calls/page)%s",
        plan.day,
        mode.value,
        full,
        len(plan.to_fetch) - full,
        round(plan.total_calls),
        plan.page_size,
        plan.calls_per_page,
        "; " + "; ".join(plan.messages) if plan.messages else "",
    )
    if plan.no_content:
        context.log.info(
            "%d KOL(s) answered code 201 (no content) within %d days: not bought (force buys them): %s",
            len(plan.no_content),
            plan.no_content_recheck.days,
            ", ".join(k.user_id for k in plan.no_content[:50]),
        )
    if plan.waiting:
        context.log.warning(
            "the daily call budget (%s, %d spent today) does not cover the roster: %d KOL(s) wait for "
            "tomorrow (the stalest go first): %s",
            plan.budget,
            plan.spent_today,
            len(plan.waiting),
            ", ".join(plan.waiting[:50]),
        )
    context.instance.add_run_tags(context.run_id, tags.encode())
    return plan
