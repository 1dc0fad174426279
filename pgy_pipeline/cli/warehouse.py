"""`pgy warehouse migrate` (move the warehouse between the DuckDB file and DuckLake, row for row) and
`pgy warehouse upkeep` (DuckLake's maintenance)."""

from __future__ import annotations

import click

from pgy_pipeline import settings
from pgy_pipeline.cli.app import main
from pgy_pipeline.warehouse.lake_upkeep import GRACE_HOURS, GRACE_HOURS_HELP, KEEP_DAYS, KEEP_DAYS_HELP


@main.group()
def warehouse() -> None:
    """The warehouse's backend (the DuckDB file, or DuckLake past one machine)."""


@warehouse.command()
@click.option(
    "--to",
    "to",
    required=True,
    metavar="URL",
    help="ducklake:postgres:<conninfo>, ducklake:sqlite:<file>, or duckdb:<data dir> (back to the file).",
)
@click.option(
    "--data-path",
    default=None,
    help="Where a lake target keeps its Parquet files (a folder or s3://bucket/prefix/; default: PGY_LAKE_DATA_PATH).",
)
def migrate(to: str, data_path: str | None) -> None:
    """Copy the configured warehouse (PGY_WAREHOUSE_URL, else the DuckDB file) into an empty one."""
    from pathlib import Path

    from pgy_pipeline.warehouse import Warehouse, WarehouseError
    from pgy_pipeline.warehouse.backends import lake_config, open_warehouse
    from pgy_pipeline.warehouse.lake import LakeWarehouse
    from pgy_pipeline.warehouse.move import move

    source = open_warehouse(settings.data_dir())
    target: Warehouse | LakeWarehouse
    if to.startswith("duckdb:"):
        target = Warehouse(Path(to.removeprefix("duckdb:")))
    elif to.startswith("ducklake:"):
        cfg = lake_config(to, settings.data_dir())
        if data_path:
            cfg = type(cfg)(
                cfg.catalog, data_path, settings.s3_config() if data_path.startswith("s3://") else None
            )
        target = LakeWarehouse(cfg)
    else:
        raise click.BadParameter("must start with ducklake: or duckdb:", param_hint="--to")
    click.echo(f"Moving {source.location} -> {target.location} ...")
    try:
        moved = move(source, target)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    for table, rows in moved.rows.items():
        click.echo(f"  {table:<16} {rows:>12,} rows")
    click.echo(
        f"Moved {sum(moved.rows.values()):,} rows in {len(moved.rows)} tables; the source is unchanged."
    )
    if to.startswith("ducklake:"):
        click.echo("Point every process at it: PGY_WAREHOUSE_URL=<that URL> (and PGY_LAKE_DATA_PATH).")
    else:
        click.echo("Point every process at it: unset PGY_WAREHOUSE_URL, PGY_DATA_DIR=<that data dir>.")


@warehouse.command()
@click.option(
    "--keep-days", default=KEEP_DAYS, show_default=True, type=click.IntRange(min=0), help=KEEP_DAYS_HELP
)
@click.option(
    "--grace-hours", default=GRACE_HOURS, show_default=True, type=click.IntRange(min=0), help=GRACE_HOURS_HELP
)
def upkeep(keep_days: int, grace_hours: int) -> None:
    """DuckLake's upkeep now (the weekly `lake_upkeep` schedule runs it): expire old snapshots, merge
    small files, delete the files nothing needs. The DuckDB file needs none."""
    from pgy_pipeline.warehouse import WarehouseError
    from pgy_pipeline.warehouse.backends import open_warehouse
    from pgy_pipeline.warehouse.lake import LakeWarehouse

    target = open_warehouse(settings.data_dir())
    if not isinstance(target, LakeWarehouse):
        click.echo(f"{target.location}: a DuckDB file is checkpointed at every publish; nothing to do.")
        return
    click.echo(f"Upkeep of {target.location} ...")
    try:
        result = target.upkeep(keep_days, grace_hours)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.summary())
