"""`pgy refresh` and `pgy retry`: run the refresh job now, in this process, on the Dagster instance."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pgy_pipeline import interrupts, settings
from pgy_pipeline.cli import heap
from pgy_pipeline.cli.app import main, verbose
from pgy_pipeline.justoneapi import AdvertiseSwitch, IsThirdPlatform, NoteType, OrderType
from pgy_pipeline.refresh.modes import RefreshMode
from pgy_pipeline.roster import Kol, check_user_id, load_roster, save_roster

if TYPE_CHECKING:
    from pgy_pipeline.cli.runner import RunSummary


_FILTER_OPTIONS = [
    click.option("--advertise-switch", type=click.Choice([e.value for e in AdvertiseSwitch]), default="ALL"),
    click.option("--order-type", type=click.Choice([e.value for e in OrderType]), default="LATEST"),
    click.option("--note-type", type=click.Choice([e.value for e in NoteType]), default="ALL"),
    click.option("--is-third-platform", type=click.Choice([e.value for e in IsThirdPlatform]), default="NO"),
]


def _filter_options(f):  # type: ignore[no-untyped-def]
    for option in reversed(_FILTER_OPTIONS):
        f = option(f)
    return f


@main.command()
@click.argument("user_ids", nargs=-1)
@click.option("--kols", "kols_file", type=click.Path(dir_okay=False), help="Roster CSV to refresh instead.")
@click.option("--engagement/--no-engagement", default=True, help="Recompute the engagement tables after.")
@click.option("--force", is_flag=True, help="Fetch even KOLs completed within the last fresh_for_h hours.")
@click.option(
    "--track",
    is_flag=True,
    help="Add USER_IDs that are not on the roster to it, so the daily schedule refreshes them too.",
)
@click.option(
    "--mode",
    type=click.Choice([m.value for m in RefreshMode]),
    default="full",
    show_default=True,
    help="full: every page; incremental: newest notes down to the window; auto: the schedule's rota.",
)
@_filter_options
def refresh(
    user_ids: tuple[str, ...],
    kols_file: str | None,
    engagement: bool,
    force: bool,
    track: bool,
    advertise_switch: str,
    order_type: str,
    note_type: str,
    is_third_platform: str,
    mode: str,
) -> None:
    """Refresh KOLs now with the scheduled job (default: every KOL of data/kols.csv).

    The runs are recorded in the Dagster instance, so they show in the UI. A USER_ID that is
    not on the roster is fetched once and stays off the roster (the daily schedule does not
    buy it) unless --track is given. Exits 1 if any KOL failed, after printing what failed
    and what to do. Ctrl-C (SIGINT) or SIGTERM stops the buying at once, writes what is
    complete and exits 130 or 143; a second one exits at once.
    """
    ids = select_kols(user_ids, kols_file)
    roster = load_roster(settings.roster_path())
    on_roster = set(roster.user_ids)
    off_roster = [u for u in ids if u not in on_roster] if user_ids else []
    if off_roster and track:
        save_roster(settings.roster_path(), [*roster.kols, *(Kol(u) for u in off_roster)])
        click.echo(
            f"Added to {settings.roster_path()}, refreshed daily from now on: {', '.join(off_roster)}",
            err=True,
        )
    elif off_roster:
        click.echo(
            f"One-off (not on {settings.roster_path()}, not refreshed daily; --track adds them): "
            f"{', '.join(off_roster)}",
            err=True,
        )
    filters: dict[str, object] = {
        "advertise_switch": advertise_switch,
        "order_type": order_type,
        "note_type": note_type,
        "is_third_platform": is_third_platform,
        "force": force,
        "mode": mode,
    }
    with interrupts.stopping() as interrupt:
        _run(ids, filters, engagement, [] if track else off_roster, interrupt)


def _run(
    ids: list[str],
    filters: dict[str, object],
    engagement: bool,
    one_off: list[str],
    interrupt: interrupts.Interrupt,
) -> None:
    defs, instance = heap.load_pipeline()
    from pgy_pipeline.cli import runner

    click.echo(f"Refreshing {len(ids)} KOL(s) from {settings.api_source().describe()} ...", err=True)
    quiet = not verbose()  # -v: Dagster's own log of the runs, step failures with their traces
    runs = runner.refresh(defs, instance, ids, filters, quiet=quiet, one_off=one_off, interrupt=interrupt)
    ok = all(r.success for r in runs)
    stopped = interrupt.requested or any(r.interrupted or r.interrupted_early for r in runs)
    if engagement and not stopped:
        runner.refresh_engagement(defs, instance, quiet=quiet)
    _print_refresh_summary(runs)
    if stopped:
        _print_interrupted(runs, interrupt)
        sys.exit(interrupt.exit_code)
    daily = len(load_roster(settings.roster_path()).kols)
    click.echo(f"The daily schedule refreshes the {daily} KOL(s) of {settings.roster_path()}.")
    sys.exit(0 if ok else 1)


def select_kols(user_ids: tuple[str, ...], kols_file: str | None) -> list[str]:
    if user_ids and kols_file:
        raise click.UsageError("give USER_IDs or --kols FILE, not both")
    if user_ids:
        bad = [(u, check_user_id(u)) for u in user_ids]
        errors = [f"{u!r}: {why}" for u, why in bad if why]
        if errors:
            raise click.BadParameter("; ".join(errors), param_hint="USER_IDS")
        return list(dict.fromkeys(user_ids))
    path = Path(kols_file) if kols_file else settings.roster_path()
    roster = load_roster(path)
    for problem in roster.problems:
        click.echo(f"warning: {path}: {problem}", err=True)
    if not roster.kols:
        raise click.ClickException(f"no KOLs to refresh in {path}")
    return roster.user_ids


def _print_refresh_summary(runs: list[RunSummary]) -> None:
    from pgy_pipeline.defs import kol_tags
    from pgy_pipeline.defs.tags import PlanTags, RunStop
    from pgy_pipeline.warehouse import queries
    from pgy_pipeline.warehouse.backends import open_warehouse

    warehouse = open_warehouse(settings.data_dir())
    if not warehouse.exists():  # nothing was ever written (an early interrupt)
        fig = queries.RunFigures(0, 0, 0, 0, 0, 0)
    else:
        with warehouse.connect_snapshot() as conn:
            fig = queries.run_figures(conn, [r.run_id for r in runs])
    click.echo(
        f"KOLs refreshed: {fig.kols_complete}, not complete: {fig.kols_not_complete}; pages: {fig.pages}; "
        f"API calls: {fig.calls} ({fig.calls_billed} billed); notes: {fig.notes}"
    )
    for r in runs:
        state = "succeeded" if r.success else "FAILED"
        if r.interrupted or r.interrupted_early:
            click.echo(f"  run {r.run_id} ({r.first} .. {r.last}) {r.status or 'CANCELED'}")
            continue
        if not r.success and not verbose():
            state += " (`pgy -v refresh` prints the full log)"
        click.echo(f"  run {r.run_id} ({r.first} .. {r.last}) {state}")
        if r.failure:
            click.echo(f"    {r.failure if verbose() else _short(r.failure)}")
        kols = kol_tags.decode(r.tags)
        stop = RunStop.decode(r.tags)
        # A run stored before pgy/stop: its failed KOLs name their stops.
        refused = stop.refuses_calls if stop else bool(kols.stop_counts)
        if kols.failed_count and not refused:
            named = [f"{f.user_id}:{f.code_or_reason}" for f in kols.failed[:5]]
            more = f" and {kols.failed_count - len(named)} more" if kols.failed_count > len(named) else ""
            click.echo(f"    failed KOLs (user_id:code): {', '.join(named)}{more}")
        # After a failure only the failure matters; the plan is in the run's tags.
        plan = PlanTags.decode(r.tags)
        if plan and (r.success or verbose()):
            click.echo(
                f"    {plan.mode} mode: {plan.full_kols} full, "
                f"{plan.incremental_kols} incremental, ~{plan.calls} calls planned"
            )
        if plan and plan.waiting:
            click.echo(f"    over today's call budget, wait for tomorrow: {','.join(plan.waiting)}")


def _print_interrupted(runs: list[RunSummary], interrupt: interrupts.Interrupt) -> None:
    from pgy_pipeline.cli.runner import interrupted_lines

    for line in interrupted_lines(runs, interrupt.name):
        click.echo(line)
    click.echo("`pgy refresh` again finishes the refresh; the daily schedule resumes it too.")


def _short(failure: str) -> str:
    """The failure without its "Detail:" (the API's own message, repeated): what failed, what to do."""
    return failure.split(" Detail: ", 1)[0]


@main.command()
def retry() -> None:
    """Re-run now the KOLs the retry sensor would re-launch (cooldown passed), without the daemon."""

    defs, instance = heap.load_pipeline()
    from pgy_pipeline.cli import runner

    runs = runner.run_due_retries(defs, instance)
    if not runs:
        click.echo("no retry due (see `pgy status`)")
    for r in runs:
        click.echo(f"{r.first}: {'succeeded' if r.success else 'failed: ' + (r.failure or '')}")
    sys.exit(0 if all(r.success for r in runs) else 1)
