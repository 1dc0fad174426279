"""`make run`: the whole pipeline on the sample roster, then a short engagement summary."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click

from pgy_pipeline import interrupts, settings
from pgy_pipeline.cli import heap
from pgy_pipeline.cli.terminal import table_text
from pgy_pipeline.roster import load_roster
from pgy_pipeline.simulator.market import quoted_prices
from pgy_pipeline.warehouse import Warehouse, queries
from pgy_pipeline.warehouse.backends import open_warehouse
from pgy_pipeline.warehouse.prices import prices_path

EXAMPLE_QUERIES = [
    (
        "Top KOLs by like_collect rate (likes + collects per read), at least 20 notes",
        "SELECT user_id, label, notes, reads_median, round(like_collect_rate_pooled, 4) AS lc_rate "
        "FROM kol_engagement WHERE notes >= 20 ORDER BY lc_rate DESC LIMIT 5",
    ),
    (
        "Organic vs cooperation median reads over the last 90 days",
        "SELECT user_id, organic_reads_median_90d, coop_reads_median_90d FROM kol_engagement "
        "ORDER BY user_id LIMIT 5",
    ),
    (
        "Cost per 1,000 reads (not CPM: no impressions) at the current photo price, 90 days",
        "SELECT user_id, label, price, round(cost_per_1k_reads_90d, 2) AS per_1k_reads, price_stale "
        "FROM kol_costs WHERE price_type = 'photo_note' ORDER BY per_1k_reads NULLS LAST LIMIT 5",
    ),
    (
        "Flags: do the numbers look real? (they inform, they change no figure)",
        "SELECT user_id, flag, reason FROM kol_flags",
    ),
    (
        "API calls spent per day and code",
        "SELECT CAST(called_at AS DATE) AS day, code, count(*) AS calls FROM api_calls GROUP BY ALL ORDER BY ALL",
    ),
]


def run_demo(data_dir: Path, roster_path: Path) -> int:
    if not roster_path.exists():
        # A fresh PGY_DATA_DIR starts from the bundled sample roster.
        roster_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(__file__).parent.parent / "sample_kols.csv", roster_path)
        click.echo(f"Wrote the sample roster to {roster_path}")
    roster = load_roster(roster_path)
    for p in roster.problems:
        click.echo(f"warning: {roster_path}: {p}", err=True)
    if not roster.kols:
        click.echo(f"no KOLs in {roster_path}", err=True)
        return 1
    api = settings.api_source()
    prices = prices_path(data_dir)
    if api.simulated and not prices.exists():
        # The API gives no prices: simulated quotes, so the report shows costs (never over real data).
        prices.write_text(quoted_prices(0, roster.user_ids, settings.today()), encoding="utf-8")
        click.echo(f"Wrote simulated prices to {prices}")
    source = api.describe()
    click.echo(f"Refreshing {len(roster.kols)} KOLs from {roster_path} against {source} ...")
    started = time.monotonic()
    defs, instance = heap.load_pipeline()
    from pgy_pipeline.cli import runner

    with interrupts.stopping() as interrupt:  # Ctrl-C: as in `pgy refresh`
        runs = runner.refresh(defs, instance, roster.user_ids, interrupt=interrupt)
    if interrupt.requested or any(r.interrupted or r.interrupted_early for r in runs):
        for line in runner.interrupted_lines(runs, interrupt.name):
            click.echo(line)
        return interrupt.exit_code
    eng = runner.refresh_engagement(defs, instance)
    elapsed = time.monotonic() - started
    warehouse = open_warehouse(data_dir)
    db = Path(warehouse.location).resolve() if isinstance(warehouse, Warehouse) else warehouse.location
    with warehouse.connect_snapshot() as conn:
        pages = queries.run_figures(conn, [r.run_id for r in runs]).pages
        calls, notes = queries.warehouse_totals(conn)
        top = queries.top_kols_summary(conn)
    click.echo("")
    click.echo(
        f"Done in {elapsed:.0f} s: {pages} pages bought this run, {calls} API calls in the ledger, {notes} notes."
    )
    for r in runs:
        if not r.success:
            click.echo(f"  run {r.run_id} failed: {r.failure}")
    if not eng.success:
        click.echo(f"  engagement run failed: {eng.failure}")
    click.echo("")
    click.echo(
        "Top KOLs (>= 10 notes) by like_collect rate (likes + collects per read; no comments/shares here):"
    )
    click.echo(table_text(top))
    click.echo("")
    click.echo(f"DuckDB file: {db}")
    click.echo('Example queries (duckdb -readonly FILE, or: pgy query "SQL"):')
    for title, sql in EXAMPLE_QUERIES:
        click.echo(f"  -- {title}")
        click.echo(f"  {sql};")
    click.echo("")
    click.echo("Next: `make ui` opens Dagster at http://127.0.0.1:3000 with these runs.")
    report = (data_dir / "reports" / "index.html").resolve()
    if report.exists():
        click.echo(f"KOL report (open in a browser, or mail the folder): {report}")
    return 0 if all(r.success for r in runs) and eng.success else 1
