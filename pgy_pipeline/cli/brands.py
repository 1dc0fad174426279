"""`pgy brands BRAND`: which KOLs worked with a brand lately (the competitor question)."""

from __future__ import annotations

from datetime import timedelta

import click

from pgy_pipeline import settings
from pgy_pipeline.cli.app import main
from pgy_pipeline.cli.terminal import table_text
from pgy_pipeline.warehouse import WarehouseError, queries
from pgy_pipeline.warehouse.backends import open_warehouse


@main.command()
@click.argument("brand")
@click.option(
    "--days", type=click.IntRange(min=1), default=90, show_default=True, help="Window, up to today."
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
def brands(brand: str, days: int, fmt: str) -> None:
    """List the KOLs with cooperation notes of BRAND published in the last --days days.

    BRAND matches the notes' brand name as the API sent it, ignoring case and outer spaces.
    Each KOL shows its notes of the brand, their first and last dates, and their median reads
    against the KOL's organic notes (reads_vs_organic above 1: the brand's notes did better).
    """
    if not brand.strip():
        raise click.BadParameter("the brand name is empty", param_hint="BRAND")
    since = settings.today() - timedelta(days=days - 1)
    try:
        conn = open_warehouse(settings.data_dir()).connect_snapshot()
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    with conn:
        df = queries.brand_kols(conn, brand, since)
    if fmt == "csv":
        click.echo(df.to_csv(index=False), nl=False)
        return
    if not len(df):
        click.echo(f"no KOL published a cooperation note of {brand!r} since {since} ({days} days)")
        return
    click.echo(f"{len(df)} KOL(s) with cooperation notes of {brand!r} since {since} ({days} days):")
    click.echo(table_text(df))
