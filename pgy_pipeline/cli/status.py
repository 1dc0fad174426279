"""`pgy status` (spend, stops, retries) and `pgy replay` (rebuild from the raw layer)."""

from __future__ import annotations

import click

from pgy_pipeline import settings
from pgy_pipeline.cli.app import main
from pgy_pipeline.warehouse.backends import open_raw, open_warehouse
from pgy_pipeline.warehouse.db import PUBLISHED_NAME
from pgy_pipeline.warehouse.state import PipelineState


@main.command()
@click.option(
    "--clear-stop", is_flag=True, help="Forget a quota stop (e.g. after the plan's quota was raised)."
)
def status(clear_stop: bool) -> None:
    """Show today's spend, any quota stop, and KOLs waiting for a retry, given up or without content."""
    state = PipelineState(settings.data_dir())
    _say_freshness()
    if clear_stop:
        state.clear_stop("quota")
        click.echo("quota stop cleared: the next run calls the API again")
    now = settings.now()
    budget = settings.daily_call_budget()
    cap = f" of a budget of {budget}" if budget is not None else " (PGY_DAILY_CALL_BUDGET unset: no cap)"
    click.echo(f"API calls today (Asia/Shanghai): {state.spent(now)} billed{cap}")
    click.echo(
        f"  and {state.unbilled(now)} not billed (301, 500, ...; stop at "
        f"{settings.daily_unbilled_call_limit()}, PGY_DAILY_UNBILLED_CALL_LIMIT)"
    )
    stop = state.active_stop()
    click.echo(f"calls stopped until {stop[1].isoformat()}: {stop[2]}" if stop else "no quota stop")
    edited = open_warehouse(settings.data_dir()).kept_copies()
    if edited:
        click.echo(
            f"{PUBLISHED_NAME} was written outside the pipeline {len(edited)} time(s); each such file is "
            f"kept, newest: {edited[-1]}"
        )
    empty = state.no_content()
    if empty:
        shown = ", ".join(f"{u} ({since:%Y-%m-%d})" for u, since in sorted(empty.items())[:20])
        click.echo(f"no content (code 201), not bought again for a while: {shown}")
    for f in state.failures():
        what = (
            "given up"
            if f.gave_up
            else f"next retry {f.next_retry_at.isoformat() if f.next_retry_at else '-'}"
        )
        click.echo(
            f"{f.user_id}: {f.attempts} failed attempt(s), {f.error_kind} code {f.code}; {what}; {f.message}"
        )


def _say_freshness() -> None:
    """Where the warehouse is and how fresh the roster's data in it is."""
    from datetime import timedelta

    from pgy_pipeline.warehouse import queries

    warehouse = open_warehouse(settings.data_dir())
    if not warehouse.exists():
        click.echo(f"warehouse: {warehouse.location} (nothing written yet: run `pgy refresh`)")
        return
    with warehouse.connect_snapshot() as conn:
        fresh = queries.roster_freshness(conn, settings.now() - timedelta(hours=24))
    oldest = f"; the stalest KOL's last refresh {fresh.oldest:%Y-%m-%d %H:%M %Z}" if fresh.oldest else ""
    click.echo(f"warehouse: {warehouse.location}")
    click.echo(
        f"KOLs on the roster: {fresh.kols}; refreshed in the last 24 h: {fresh.refreshed_within}; "
        f"never refreshed: {fresh.never}{oldest}"
    )


@main.command()
def replay() -> None:
    """Re-normalise every stored raw page into DuckDB without calling the API."""
    from pgy_pipeline.warehouse.replay import replay_all

    with open_warehouse(settings.data_dir()).write(publish=True) as conn:
        stats = replay_all(conn, open_raw(settings.data_dir()))
    click.echo(f"replayed {stats.fetches} fetch(es), {stats.snapshots} note rows, 0 API calls")
