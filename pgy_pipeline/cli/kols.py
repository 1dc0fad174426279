"""`pgy kols`: manage the roster (data/kols.csv) and the KOL partitions with it."""

from __future__ import annotations

import click

from pgy_pipeline import settings
from pgy_pipeline.cli.app import main
from pgy_pipeline.roster import Kol, check_category, check_label, check_user_id, load_roster, save_roster


@main.group()
def kols() -> None:
    """Manage the roster (data/kols.csv); the roster sensor mirrors it into Dagster partitions."""


@kols.command("list")
def kols_list() -> None:
    """List the KOLs of the roster, and report bad lines."""
    roster = load_roster(settings.roster_path())
    for k in roster.kols:
        click.echo(f"{k.user_id}\t{k.label or ''}\t{k.category or ''}".rstrip("\t"))
    for p in roster.problems:
        click.echo(f"warning: {settings.roster_path()}: {p}", err=True)


@kols.command("add")
@click.argument("user_id")
@click.option("--label", default=None, help="A name to show beside the id.")
@click.option(
    "--category", default=None, help="Peer group (beauty, food, ...): percentiles compare the KOL within it."
)
def kols_add(user_id: str, label: str | None, category: str | None) -> None:
    """Add a KOL to the roster (and to the Dagster partitions)."""
    why = (
        check_user_id(user_id)
        or (check_label(label) if label else None)
        or (check_category(category) if category else None)
    )
    if why:
        raise click.BadParameter(why, param_hint="USER_ID")
    roster = load_roster(settings.roster_path())
    if user_id in roster.user_ids:
        raise click.ClickException(f"{user_id} is already on the roster")
    save_roster(settings.roster_path(), [*roster.kols, Kol(user_id, label, category or None)])
    from pgy_pipeline.cli import runner

    runner.add_partitions(runner.get_instance(), [user_id])
    click.echo(f"added {user_id}; run `pgy refresh {user_id}` to fetch it now")


@kols.command("remove")
@click.argument("user_id")
def kols_remove(user_id: str) -> None:
    """Remove a KOL from the roster. Its history stays in DuckDB and the raw layer."""
    roster = load_roster(settings.roster_path())
    if user_id not in roster.user_ids:
        raise click.ClickException(f"{user_id} is not on the roster")
    save_roster(settings.roster_path(), [k for k in roster.kols if k.user_id != user_id])
    from pgy_pipeline.cli import runner
    from pgy_pipeline.defs.partitions import KOLS_PARTITIONS_NAME

    instance = runner.get_instance()
    if instance.has_dynamic_partition(KOLS_PARTITIONS_NAME, user_id):
        instance.delete_dynamic_partition(KOLS_PARTITIONS_NAME, user_id)
    click.echo(f"removed {user_id} (its notes and history are kept)")
