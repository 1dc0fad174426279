"""`pgy simulator`, `pgy demo` (make run) and `pgy ui` (make ui): the long-running and showcase commands."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from pgy_pipeline import settings
from pgy_pipeline.cli.app import main


@main.command()
@click.option("--port", type=int, default=8765, show_default=True)
@click.option(
    "--profile", type=click.Choice(["clean", "realistic", "hostile"]), default="realistic", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Override a profile field; VALUE is JSON, e.g. --set p_301=0.2 --set 'user_codes={\"u1\": 600}'.",
)
def simulator(port: int, profile: str, seed: int, overrides: tuple[str, ...]) -> None:
    """Serve the fake Notes Details API on 127.0.0.1 (point JUSTONEAPI_BASE_URL at it).

    Its call counters are at GET /__simulator/counters.
    """
    import signal
    import threading

    from pgy_pipeline.simulator import Simulator

    fields: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not FIELD=VALUE", param_hint="--set")
        try:
            fields[key] = json.loads(value)
        except ValueError:
            fields[key] = value
    try:
        sim = Simulator(profile=profile, seed=seed, port=port, **fields)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from None
    url = sim.start()
    click.echo(f"simulator ({profile}, seed {seed}) at {url}; export JUSTONEAPI_BASE_URL={url}", err=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


@main.command()
def demo() -> None:
    """`make run`: refresh the sample roster end to end and print an engagement summary."""
    from pgy_pipeline.cli.demo import run_demo

    sys.exit(run_demo(settings.data_dir(), settings.roster_path()))


@main.command()
@click.option("--port", type=int, default=3000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def ui(port: int, host: str) -> None:
    """Start the Dagster UI and daemon (`dagster dev -w workspace.yaml`); Ctrl-C stops both."""
    from pgy_pipeline.cli.devserver import run_dagster_dev

    sys.exit(run_dagster_dev(host, port))
