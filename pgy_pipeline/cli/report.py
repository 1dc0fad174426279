"""`pgy report`: write the HTML scorecard (leaderboard, KOL pages, a comparison) from the warehouse."""

from __future__ import annotations

from pathlib import Path

import click

from pgy_pipeline import settings
from pgy_pipeline.cli.app import main
from pgy_pipeline.cli.refresh import select_kols
from pgy_pipeline.warehouse.backends import open_warehouse
from pgy_pipeline.warehouse.state import PipelineState


@main.command()
@click.argument("user_ids", nargs=-1)
@click.option(
    "--kols", "kols_file", type=click.Path(dir_okay=False), help="Only the KOLs of this roster CSV."
)
@click.option(
    "--output", "out_dir", type=click.Path(file_okay=False), default=None, help="Default: <data>/reports"
)
@click.option(
    "--compare",
    multiple=True,
    metavar="USER_ID",
    help="Add a side-by-side page of 2 to 5 KOLs (repeat the option).",
)
def report(
    user_ids: tuple[str, ...], kols_file: str | None, out_dir: str | None, compare: tuple[str, ...]
) -> None:
    """Write the KOL scorecard as static HTML (default: every KOL of the warehouse).

    It opens offline and can be mailed as a folder: index.html is the leaderboard, kol/ has
    one page per KOL, compare.html the chosen KOLs side by side.
    """
    # Imported here: every other `pgy` command starts without the report modules.
    from pgy_pipeline.report import ReportError, write_report

    chosen = select_kols(user_ids, kols_file) if (user_ids or kols_file) else None
    target = Path(out_dir) if out_dir else settings.data_dir() / "reports"
    try:
        simulated = PipelineState(settings.data_dir()).holds_simulated_data()
        notice = settings.SIMULATED_NOTICE if simulated else None
        result = write_report(open_warehouse(settings.data_dir()), target, chosen, compare, notice)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    unchanged = len(result.kol_pages) - result.kol_pages_written
    kept = f" ({unchanged} unchanged, kept)" if unchanged else ""
    click.echo(f"wrote {result.kol_pages_written} KOL page(s){kept} in {result.seconds:.1f} s")
    if result.compare:
        click.echo(f"comparison: {result.compare.resolve()}")
    click.echo(f"open {result.index.resolve()}")
