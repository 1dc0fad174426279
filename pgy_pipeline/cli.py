"""The ``pgy`` command line. ``pgy --help`` documents every command."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from pgy_pipeline.justoneapi import AdvertiseSwitch, IsThirdPlatform, NoteType, OrderType
from pgy_pipeline.roster import Kol, check_label, check_user_id, load_roster, save_roster

log = logging.getLogger("pgy_pipeline.cli")


def _data_dir() -> Path:
    from pgy_pipeline.runner import data_dir

    return data_dir()


def _roster_path() -> Path:
    return _data_dir() / "kols.csv"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level (the token is still redacted).")
def main(verbose: bool) -> None:
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


# -- refresh ---------------------------------------------------------------------------------

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
@_filter_options
def refresh(
    user_ids: tuple[str, ...],
    kols_file: str | None,
    engagement: bool,
    force: bool,
    advertise_switch: str,
    order_type: str,
    note_type: str,
    is_third_platform: str,
) -> None:
    """Refresh KOLs now with the scheduled job (default: every KOL of data/kols.csv).

    The runs are recorded in the Dagster instance, so they show in the UI. Exits 1 if any
    KOL failed, after printing what failed and what to do.
    """
    from pgy_pipeline import runner
    from pgy_pipeline.definitions import build_defs

    ids = _select_kols(user_ids, kols_file)
    filters: dict[str, object] = {
        "advertise_switch": advertise_switch,
        "order_type": order_type,
        "note_type": note_type,
        "is_third_platform": is_third_platform,
        "force": force,
    }
    defs = build_defs()
    instance = runner.get_instance()
    click.echo(f"Refreshing {len(ids)} KOL(s) from {_source()} ...", err=True)
    runs = runner.refresh(defs, instance, ids, filters)
    ok = all(r.success for r in runs)
    if engagement:
        runner.refresh_engagement(defs, instance)
    _print_refresh_summary(runs)
    sys.exit(0 if ok else 1)


def _select_kols(user_ids: tuple[str, ...], kols_file: str | None) -> list[str]:
    if user_ids and kols_file:
        raise click.UsageError("give USER_IDs or --kols FILE, not both")
    if user_ids:
        bad = [(u, check_user_id(u)) for u in user_ids]
        errors = [f"{u!r}: {why}" for u, why in bad if why]
        if errors:
            raise click.BadParameter("; ".join(errors), param_hint="USER_IDS")
        return list(dict.fromkeys(user_ids))
    path = Path(kols_file) if kols_file else _roster_path()
    roster = load_roster(path)
    for problem in roster.problems:
        click.echo(f"warning: {path}: {problem}", err=True)
    if not roster.kols:
        raise click.ClickException(f"no KOLs to refresh in {path}")
    return roster.user_ids


def _source() -> str:
    if os.environ.get("JUSTONEAPI_TOKEN"):
        return "Just One API"
    if os.environ.get("JUSTONEAPI_BASE_URL"):
        return "the simulator at JUSTONEAPI_BASE_URL"
    return "the bundled simulator (JUSTONEAPI_TOKEN is not set)"


def _print_refresh_summary(runs: list) -> None:  # type: ignore[type-arg]
    from pgy_pipeline.warehouse import Warehouse

    run_ids = [r.run_id for r in runs]
    with Warehouse(_data_dir()).connect_snapshot() as conn:
        rows = conn.execute(
            """
            SELECT count(*) FILTER (WHERE status = 'complete'), count(*) FILTER (WHERE status <> 'complete'),
                   coalesce(sum(pages), 0), coalesce(sum(calls), 0), coalesce(sum(notes_returned), 0)
            FROM fetches WHERE run_id IN (SELECT unnest($ids::VARCHAR[]))
            """,
            {"ids": run_ids},
        ).fetchone()
    ok, failed, pages, calls, notes = rows if rows else (0, 0, 0, 0, 0)
    click.echo(f"KOLs refreshed: {ok}, failed: {failed}; pages: {pages}; API calls: {calls}; notes: {notes}")
    for r in runs:
        state = "succeeded" if r.success else "FAILED"
        click.echo(f"  run {r.run_id} ({r.first} .. {r.last}) {state}")
        if r.failure:
            click.echo(f"    {r.failure}")


# -- kols ------------------------------------------------------------------------------------


@main.group()
def kols() -> None:
    """Manage the roster (data/kols.csv); the roster sensor mirrors it into Dagster partitions."""


@kols.command("list")
def kols_list() -> None:
    """List the KOLs of the roster, and report bad lines."""
    roster = load_roster(_roster_path())
    for k in roster.kols:
        click.echo(f"{k.user_id}\t{k.label or ''}")
    for p in roster.problems:
        click.echo(f"warning: {_roster_path()}: {p}", err=True)


@kols.command("add")
@click.argument("user_id")
@click.option("--label", default=None, help="A name to show beside the id.")
def kols_add(user_id: str, label: str | None) -> None:
    """Add a KOL to the roster (and to the Dagster partitions)."""
    why = check_user_id(user_id) or (check_label(label) if label else None)
    if why:
        raise click.BadParameter(why, param_hint="USER_ID")
    roster = load_roster(_roster_path())
    if user_id in roster.user_ids:
        raise click.ClickException(f"{user_id} is already on the roster")
    save_roster(_roster_path(), [*roster.kols, Kol(user_id, label)])
    from pgy_pipeline import runner

    runner.add_partitions(runner.get_instance(), [user_id])
    click.echo(f"added {user_id}; run `pgy refresh {user_id}` to fetch it now")


@kols.command("remove")
@click.argument("user_id")
def kols_remove(user_id: str) -> None:
    """Remove a KOL from the roster. Its history stays in DuckDB and the raw layer."""
    roster = load_roster(_roster_path())
    if user_id not in roster.user_ids:
        raise click.ClickException(f"{user_id} is not on the roster")
    save_roster(_roster_path(), [k for k in roster.kols if k.user_id != user_id])
    from pgy_pipeline import runner
    from pgy_pipeline.partitions import KOLS_PARTITIONS_NAME

    instance = runner.get_instance()
    if instance.has_dynamic_partition(KOLS_PARTITIONS_NAME, user_id):
        instance.delete_dynamic_partition(KOLS_PARTITIONS_NAME, user_id)
    click.echo(f"removed {user_id} (its notes and history are kept)")


# -- simulator -------------------------------------------------------------------------------


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


# -- query / export ----------------------------------------------------------------------------


@main.command()
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table")
@click.option("--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def query(sql: str, fmt: str, output: str | None) -> None:
    """Run read-only SQL on the published snapshot (safe while the pipeline writes)."""
    import duckdb

    from pgy_pipeline.warehouse import Warehouse, WarehouseError

    try:
        conn = Warehouse(_data_dir()).connect_snapshot()
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    with conn:
        try:
            rel = conn.sql(sql)
            if rel is None:
                raise click.ClickException("the statement returned no rows")
            if fmt == "parquet":
                if not output:
                    raise click.UsageError("--format parquet needs --output FILE")
                rel.write_parquet(output)
                click.echo(f"wrote {output}", err=True)
                return
            df = rel.df()
        except duckdb.Error as exc:
            raise click.ClickException(f"query failed: {exc}") from None
    if fmt == "table":
        text = df.to_string(index=False, max_rows=200) if len(df) else "(no rows)"
    elif fmt == "csv":
        text = df.to_csv(index=False)
    else:
        text = df.to_json(orient="records", date_format="iso", force_ascii=False, lines=True)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(df)} row(s) to {output}", err=True)
    else:
        click.echo(text)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option(
    "--output", "out_dir", type=click.Path(file_okay=False), default=None, help="Default: <data>/export"
)
def export(fmt: str, out_dir: str | None) -> None:
    """Write the main tables to Parquet or CSV files for other tools."""
    from pgy_pipeline.warehouse import Warehouse, WarehouseError

    target = Path(out_dir) if out_dir else _data_dir() / "export"
    target.mkdir(parents=True, exist_ok=True)
    try:
        conn = Warehouse(_data_dir()).connect_snapshot()
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    with conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND table_name <> 'schema_version'"
            ).fetchall()
        ]
        for table in tables:
            path = target / f"{table}.{fmt}"
            rel = conn.table(table)
            rel.write_parquet(str(path)) if fmt == "parquet" else rel.write_csv(str(path))
            click.echo(str(path))


# -- status / replay ---------------------------------------------------------------------------


@main.command()
@click.option(
    "--clear-stop", is_flag=True, help="Forget a quota stop (e.g. after the plan's quota was raised)."
)
def status(clear_stop: bool) -> None:
    """Show today's spend, any quota stop, and KOLs waiting for a retry or given up."""
    from pgy_pipeline.warehouse.state import PipelineState

    state = PipelineState(_data_dir())
    if clear_stop:
        state.clear_stop("quota")
        click.echo("quota stop cleared: the next run calls the API again")
    click.echo(f"API calls today (Asia/Shanghai): {state.spent()}")
    stop = state.active_stop()
    click.echo(f"calls stopped until {stop[1].isoformat()}: {stop[2]}" if stop else "no quota stop")
    for f in state.failures():
        what = (
            "given up"
            if f.gave_up
            else f"next retry {f.next_retry_at.isoformat() if f.next_retry_at else '-'}"
        )
        click.echo(
            f"{f.user_id}: {f.attempts} failed attempt(s), {f.error_kind} code {f.code}; {what}; {f.message}"
        )


@main.command()
def retry() -> None:
    """Re-run now the KOLs the retry sensor would re-launch (cooldown passed), without the daemon."""
    from pgy_pipeline import runner
    from pgy_pipeline.definitions import build_defs

    runs = runner.run_due_retries(build_defs(), runner.get_instance())
    if not runs:
        click.echo("no retry due (see `pgy status`)")
    for r in runs:
        click.echo(f"{r.first}: {'succeeded' if r.success else 'failed: ' + (r.failure or '')}")
    sys.exit(0 if all(r.success for r in runs) else 1)


@main.command()
def replay() -> None:
    """Re-normalise every stored raw page into DuckDB without calling the API."""
    from pgy_pipeline.normalise import replay_batch
    from pgy_pipeline.warehouse import Warehouse
    from pgy_pipeline.warehouse.raw import RawStore
    from pgy_pipeline.warehouse.writes import write_fetches

    raw = RawStore(_data_dir())
    rows, files = replay_batch(raw, raw.iter_recorded_fetches())
    with Warehouse(_data_dir()).write(publish=True) as conn:
        stats = write_fetches(conn, rows, files)
    click.echo(f"replayed {stats.fetches} fetch(es), {stats.snapshots} note rows, 0 API calls")


# -- demo / ui -------------------------------------------------------------------------------


@main.command()
def demo() -> None:
    """`make run`: refresh the sample roster end to end and print an engagement summary."""
    from pgy_pipeline.demo import run_demo

    sys.exit(run_demo(_data_dir(), _roster_path()))


@main.command()
@click.option("--port", type=int, default=3000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def ui(port: int, host: str) -> None:
    """Start the Dagster UI and daemon (`dagster dev -w workspace.yaml`); Ctrl-C stops both."""
    from pgy_pipeline.devserver import run_dagster_dev

    sys.exit(run_dagster_dev(host, port))


if __name__ == "__main__":  # pragma: no cover
    main()
