"""`pgy prices`: the analysts' price table (kol_prices), kept in data/kol_prices.csv."""

from __future__ import annotations

from pathlib import Path

import click

from pgy_pipeline import settings
from pgy_pipeline.cli.app import main
from pgy_pipeline.warehouse import WarehouseError
from pgy_pipeline.warehouse.backends import open_warehouse
from pgy_pipeline.warehouse.prices import PricesError, install_prices, load_prices, prices_path


@main.group()
def prices() -> None:
    """Prices you pay KOLs, for CPE/CPM: they survive every refresh (data/kol_prices.csv)."""


@prices.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def prices_import(file: Path) -> None:
    """Check FILE and make it the price table.

    FILE is a CSV with the header user_id,price_type,price,currency,valid_from,valid_to,note
    (currency defaults to CNY; valid_to and note may be empty; dates YYYY-MM-DD). A bad line
    imports nothing and names the line and column.
    """
    data = settings.data_dir()
    try:
        rows = install_prices(data, file)
        with open_warehouse(data).write(publish=True) as conn:
            load_prices(conn, data)
    except PricesError as exc:
        raise click.ClickException(f"nothing imported: {exc}") from None
    except WarehouseError as exc:
        raise click.ClickException(f"{prices_path(data)} was written, the warehouse not yet: {exc}") from None
    click.echo(f"imported {rows} price(s) into {prices_path(data)} and kol_prices; refreshes keep them")
