"""The reads a year-old warehouse makes every run: the checks on `notes` and the plan's evidence.

Usage: python -m bench.checks_bench [--kols 1000] [--days 365]

Generates the warehouse of bench/lake_bench.py (a year of daily full fetches, ~46 million
`note_snapshots` rows at 1,000 KOLs), then times each query the checks of the engagement run make
(defs/checks.py) and the plan's evidence of listing glitches for the whole roster
(refresh/plan.py), and the report's reads of the KOL pages' rows, group by group, and of their
digests alone (report/loading.py, unchanged.py), twice each; prints the faster and records it.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import line, record
from bench.lake_bench import generate
from pgy_pipeline.warehouse import queries
from pgy_pipeline.warehouse.db import Warehouse
from pgy_pipeline.warehouse.field_shares import SHARE_RISE, field_shares


def _best(read: Callable[[], Any]) -> float:
    times = []
    for _ in range(2):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return min(times)


def _report_reads(conn: Any) -> None:
    from pgy_pipeline.report import loading
    from pgy_pipeline.report.write import read_groups

    data = loading.load_summary(conn)
    for group in read_groups(sorted(data.roster), data.live_notes):
        loading.load_details(conn, data, group)


def _report_digests(conn: Any) -> None:
    from pgy_pipeline.report import loading
    from pgy_pipeline.report.unchanged import details_digests

    details_digests(conn, loading.detail_reads(loading.load_summary(conn)), None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kols", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pgy-checksbench-"))
    try:
        wh = Warehouse(base)
        wh.ensure()
        kols = [f"kol{i:05d}" for i in range(args.kols)]
        rows = generate(wh, kols, args.days)["snapshots"]
        with wh.read_working() as conn:
            newest = conn.execute("SELECT max(started_at) FROM fetches").fetchone()[0]
            reads: dict[str, Callable[[], Any]] = {
                "notes_unique_per_kol": lambda: queries.duplicate_note_keys(conn),
                "notes_metrics_non_negative": lambda: queries.negative_metric_rows(conn),
                "notes_match_reported_total": lambda: queries.kols_off_reported_total(conn, 1),
                "roster_refreshed_within_window": lambda: queries.kols_complete_within(
                    conn, timedelta(hours=26)
                ),
                "gone_marks_not_contradicted": lambda: queries.kols_with_reversed_gone_marks(
                    conn, timedelta(days=30)
                ),
                "notes_fields_readable": lambda: field_shares(conn, SHARE_RISE),
                "plan: listing glitches of every KOL, 30 days": lambda: queries.listing_glitches(
                    conn, kols, newest - timedelta(days=30)
                ),
                "report: the KOL pages' rows, every group (their history most)": lambda: _report_reads(conn),
                "report: the summary and the KOL pages' digests (no page changed)": lambda: _report_digests(
                    conn
                ),
            }
            out = [line("note_snapshots rows", f"{rows:,}", "-", None)]
            out += [line(name, f"{_best(read):.3f} s", "-", None) for name, read in reads.items()]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    record(
        f"The checks' and the plan's reads on a year-old warehouse ({args.kols} KOLs x {args.days} days)",
        out,
        args.note,
    )


if __name__ == "__main__":
    main()
