"""`pgy plan`: what the next refresh will cost, per KOL and in total, before a single call."""

from __future__ import annotations

import click

from pgy_pipeline import settings
from pgy_pipeline.cli.app import main
from pgy_pipeline.refresh.modes import RefreshMode


@main.command()
@click.argument("user_ids", nargs=-1)
@click.option("--kols", "kols_file", type=click.Path(dir_okay=False), help="Roster CSV to plan instead.")
@click.option(
    "--mode",
    type=click.Choice([m.value for m in RefreshMode]),
    default=RefreshMode.AUTO.value,
    show_default=True,
    help="The refresh to plan: auto is the daily schedule's.",
)
@click.option("--all", "show_all", is_flag=True, help="List every KOL (default: the 20 most expensive).")
def plan(user_ids: tuple[str, ...], kols_file: str | None, mode: str, show_all: bool) -> None:
    """Estimate the API calls of the next refresh from what the warehouse knows.

    Per KOL: full or incremental (the rota), notes expected, pages, pages reusable from an
    interrupted fetch, estimated calls (with the retry overhead seen in api_calls); then the
    total, and the daily budget (PGY_DAILY_CALL_BUDGET) with the KOLs that would wait.
    """
    from pgy_pipeline.cli.refresh import select_kols
    from pgy_pipeline.defs.resources import PgyResource
    from pgy_pipeline.refresh.plan import make_plan
    from pgy_pipeline.warehouse.backends import open_warehouse

    ids = select_kols(user_ids, kols_file)
    pgy = PgyResource()
    warehouse = open_warehouse(settings.data_dir())
    now = settings.now()
    conn = warehouse.connect_snapshot() if warehouse.exists() else None
    try:
        p = make_plan(
            conn,
            pgy.raw(),
            ids,
            RefreshMode(mode),
            settings.today(),
            now,
            pgy.plan_settings(),
            budget=pgy.call_budget(),
            spent_today=pgy.state().spent(now),
            no_content=pgy.state().no_content(),
        )
    finally:
        if conn is not None:
            conn.close()
    shown = p.kols if show_all else sorted(p.kols, key=lambda k: -k.calls)[:20]
    click.echo(f"{'user_id':<26} {'kind':<12} {'notes':>7} {'pages':>6} {'reused':>6} {'calls':>7}  note")
    for k in shown:
        note = "waits for tomorrow" if k.waits else ("fetched recently: skipped" if k.skipped else "")
        if k.no_content_since is not None:
            until = k.no_content_since + p.no_content_recheck
            note = f"no content (201) on {k.no_content_since:%Y-%m-%d}: skipped until {until:%Y-%m-%d}"
        click.echo(
            f"{k.user_id:<26} {k.kind.value:<12} {k.notes_expected:>7.0f} {k.pages:>6} "
            f"{k.pages_reusable:>6} {k.calls:>7.1f}  {note}"
        )
    if p.no_content:
        click.echo(
            f"{len(p.no_content)} KOL(s) answered 201 (no content) lately: not bought (--force buys them)"
        )
    if len(shown) < len(p.kols):
        click.echo(f"... {len(p.kols) - len(shown)} more (--all lists them)")
    full = sum(k.kind.value == "full" for k in p.to_fetch)
    click.echo(
        f"\n{p.day} ({mode}): {len(p.to_fetch)} KOL(s), {full} full, {len(p.to_fetch) - full} incremental; "
        f"estimated calls: {p.total_calls:.0f} ({p.page_size} notes/page, {p.calls_per_page:.3f} calls/page)"
    )
    for n in p.messages:
        click.echo(f"assumed: {n}")
    if p.budget is None:
        click.echo("daily call budget: none (PGY_DAILY_CALL_BUDGET unset)")
    else:
        click.echo(f"daily call budget: {p.budget} billed calls, spent today: {p.spent_today}")
        if p.waiting:
            click.echo(f"{len(p.waiting)} KOL(s) wait for tomorrow: {', '.join(p.waiting[:30])}")
