"""The ``pgy`` command group; each group of commands lives in its own module of this package."""

from __future__ import annotations

import logging
import sqlite3
import sys

import click

from pgy_pipeline import settings
from pgy_pipeline.warehouse.state import PipelineState


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Log at DEBUG level and print full traces (the token is still redacted).",
)
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """pgy-pipeline: Xiaohongshu PGY KOL note performance into DuckDB, orchestrated by Dagster.

    Environment: JUSTONEAPI_TOKEN (unset: the bundled simulator), JUSTONEAPI_BASE_URL,
    PGY_DATA_DIR (default data/), DAGSTER_HOME (default data/dagster_home).
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from pgy_pipeline.justoneapi import install_log_redaction

    install_log_redaction()
    ctx.obj = {"verbose": verbose}
    if ctx.invoked_subcommand not in ("simulator", "ui"):
        say_if_simulated()


def say_if_simulated() -> None:
    """One line on stderr when the data dir holds simulated data: nobody should mistake it for real.

    A state that cannot be read (a full disk) gives no line: the command goes on, and says what it
    cannot do itself (``pgy status`` on a full disk is what its user runs next)."""
    data = settings.data_dir()
    try:
        simulated = PipelineState(data).holds_simulated_data()
    except (sqlite3.Error, OSError):
        return
    if simulated:
        click.echo(
            f"note: {data} holds simulated data (from the bundled simulator, not Just One API)", err=True
        )


def verbose() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return bool(root and isinstance(root.obj, dict) and root.obj.get("verbose"))
