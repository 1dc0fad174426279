"""`pgy query` and `pgy export`: read the published snapshot, safe while the pipeline writes."""

from __future__ import annotations

from pathlib import Path

import click
import duckdb

from pgy_pipeline import settings
from pgy_pipeline.cli.app import main
from pgy_pipeline.cli.terminal import table_text
from pgy_pipeline.warehouse import WarehouseError, queries
from pgy_pipeline.warehouse.backends import open_warehouse
from pgy_pipeline.warehouse.sandbox import check_reads_only


@main.command()
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table")
@click.option("--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def query(sql: str, fmt: str, output: str | None) -> None:
    """Run read-only SQL on the published snapshot (safe while the pipeline writes).

    The SQL can read the snapshot and nothing else: no writes, no ATTACH, no COPY, no other
    files. Use --output to write the result.
    """
    if fmt == "parquet" and not output:
        raise click.UsageError("--format parquet needs --output FILE")
    try:
        conn = open_warehouse(settings.data_dir()).connect_sandboxed()
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    with conn:
        try:
            check_reads_only(conn, sql)
            rel = conn.sql(sql)
            if rel is None:
                raise click.ClickException("the statement returned no rows")
            df = rel.df()
        except duckdb.Error as exc:
            raise click.ClickException(f"query failed: {exc}") from None
        except WarehouseError as exc:
            raise click.ClickException(str(exc)) from None
    if fmt == "parquet" and output:
        # Written by our own connection, not the sandboxed one (which may not touch files).
        with duckdb.connect() as out:
            out.from_df(df).write_parquet(output)
        click.echo(f"wrote {len(df)} row(s) to {output}", err=True)
        return
    if fmt == "table":
        text = table_text(df, max_rows=200) if len(df) else "(no rows)"
    elif fmt == "csv":
        text = df.to_csv(index=False)
    else:
        text = df.to_json(orient="records", date_format="iso", force_ascii=False, lines=True)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(df)} row(s) to {output}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


@main.command()
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option(
    "--output", "out_dir", type=click.Path(file_okay=False), default=None, help="Default: <data>/export"
)
def export(fmt: str, out_dir: str | None) -> None:
    """Write the main tables to Parquet or CSV files for other tools."""
    target = Path(out_dir) if out_dir else settings.data_dir() / "export"
    target.mkdir(parents=True, exist_ok=True)
    try:
        conn = open_warehouse(settings.data_dir()).connect_snapshot()
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    with conn:
        for table in queries.exportable_tables(conn):
            path = target / f"{table}.{fmt}"
            rel = conn.table(table)
            rel.write_parquet(str(path)) if fmt == "parquet" else rel.write_csv(str(path))
            click.echo(str(path))
