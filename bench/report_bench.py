"""How long the HTML report takes for a large roster: 1,000 KOLs of 60 notes, 3 refreshes each.

Run: `python -m bench.report_bench [KOLS]` (from .venv). Prints the figures and appends them
to bench/RESULTS.md.

`python -m bench.report_bench --warehouse DATA/pgy.duckdb [--runs 5]` times the report of an
existing warehouse instead (e.g. one `pgy refresh` of the `realistic` simulator filled), every page
new each run: the wall time with the page workers, the CPU of the report's own process and of its
workers, and the CPU of the same report written in one process (the work itself, whatever the cores);
then, on a copy, a report written over the last one with nothing changed, and with one note changed.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from bench.common import line, record
from pgy_pipeline.report import write_report
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
from pgy_pipeline.warehouse.writes import store_fetch_totals


def build(data: Path, kols: int) -> Path:
    Warehouse(data).ensure()
    db = Warehouse(data).working_path
    with duckdb.connect(str(db)) as conn:
        conn.execute(
            f"INSERT INTO kols (user_id, label, added_at) SELECT printf('kol%05d', i), '达人' || i, now() FROM range({kols}) t(i)"
        )
        conn.execute(
            "INSERT INTO notes SELECT printf('kol%05d', k), printf('n%05d%04d', k, i), 'title ' || i, "
            "current_date - (i * 3)::INT, i % 3 = 0, i % 4 = 0, NULL, NULL, 1000 + (k * 37 + i * 101) % 9000, "
            "30 + (k + i) % 700, 10 + (k * i) % 300, 0, now(), now(), NULL, 'f', 'default' "
            f"FROM range({kols}) a(k), range(60) b(i)"
        )
        for f in range(3):
            conn.execute(
                "INSERT INTO fetches (fetch_id, user_id, advertise_switch, order_type, note_type, is_third_platform, "
                "is_full, status, started_at, finished_at, notes_returned, pages, pages_reused, calls, retries, "
                "null_metrics, duplicates_dropped) "
                f"SELECT printf('f{f}-%05d', k), printf('kol%05d', k), 'ALL', 'LATEST', 'ALL', 'NO', true, 'complete', "
                f"now() - INTERVAL {3 - f} DAY, now() - INTERVAL {3 - f} DAY, 60, 8, 0, 8, 0, 0, 0 FROM range({kols}) a(k)"
            )
            conn.execute(
                f"INSERT INTO note_snapshots SELECT printf('f{f}-%05d', k), user_id, note_id, now() - INTERVAL {3 - f} DAY, 1, "
                f"read_num * {f + 1} / 3, like_num, collect_num, 0, 'default' FROM notes, range({kols}) a(k) "
                "WHERE user_id = printf('kol%05d', k)"
            )
        store_fetch_totals(conn, "SELECT fetch_id FROM fetches")  # as the writer does with its snapshots
        refresh_kol_engagement(conn, date.today())
    return db


def main(kols: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = build(Path(tmp), kols)
        started = time.monotonic()
        result = write_report(db, Path(tmp) / "reports")
        seconds = time.monotonic() - started
    record(
        f"HTML report, {kols} KOLs",
        [
            line(
                f"write_report, {kols} KOLs x 60 notes x 3 refreshes",
                f"{seconds:.1f} s",
                "< 60 s",
                seconds < 60,
            ),
            line("KOL pages written", str(len(result.kol_pages)), str(kols), len(result.kol_pages) == kols),
        ],
    )


def _timed(db: Path, processes: int | None) -> tuple[float, float, float, int]:
    """One report of ``db`` into a new folder: wall, this process's CPU, its workers' CPU, pages."""
    with tempfile.TemporaryDirectory() as out:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu, started = time.process_time(), time.perf_counter()
        result = write_report(db, Path(out), processes=processes)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    return wall, cpu, workers, len(result.kol_pages)


def _again(db: Path, runs: int) -> tuple[float, float]:
    """Medians of a report written over the last one: nothing changed; one KOL's note title changed
    (each run another KOL), on a copy of ``db``."""
    same, one = [], []
    with tempfile.TemporaryDirectory() as tmp:
        copy, out = Path(tmp) / "pgy.duckdb", Path(tmp) / "report"
        shutil.copyfile(db, copy)
        write_report(copy, out)
        with duckdb.connect(str(copy), read_only=True) as conn:
            notes = conn.execute("SELECT user_id, note_id FROM notes USING SAMPLE 100 ROWS").fetchall()
        for run in range(runs):
            started = time.perf_counter()
            write_report(copy, out)
            same.append(time.perf_counter() - started)
            with duckdb.connect(str(copy)) as conn:
                conn.execute(
                    "UPDATE notes SET title = title || '!' WHERE user_id = ? AND note_id = ?", notes[run]
                )
            started = time.perf_counter()
            written = write_report(copy, out).kol_pages_written
            one.append(time.perf_counter() - started)
            assert written == 1, written
    return statistics.median(same), statistics.median(one)


def of_warehouse(db: Path, runs: int, note: str) -> None:
    """The report of an existing warehouse, ``runs`` times each way, alternating; medians."""
    pooled, alone = [], []
    for _ in range(runs):
        pooled.append(_timed(db, None))
        alone.append(_timed(db, 1))
    same, one = _again(db, runs)
    wall, cpu, workers, pages = (statistics.median(x) for x in zip(*pooled, strict=True))
    alone_cpu = statistics.median(x[1] for x in alone)
    spread = f"{min(x[0] for x in pooled):.2f}..{max(x[0] for x in pooled):.2f}"
    record(
        f"HTML report of {db.name}, {int(pages)} KOL pages, median of {runs}",
        [
            line("wall time, with the page workers (s)", f"{wall:.2f}", "-", None),
            line("  fastest..slowest run (s)", spread, "-", None),
            line("CPU of the report's own process (s)", f"{cpu:.2f}", "-", None),
            line("CPU of its page workers (s)", f"{workers:.2f}", "-", None),
            line("CPU of the same report in one process (s)", f"{alone_cpu:.2f}", "-", None),
            line("wall time of a report again, no page changed (s)", f"{same:.2f}", "-", None),
            line("wall time of a report again, one KOL's note changed (s)", f"{one:.2f}", "-", None),
        ],
        note,
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("kols", type=int, nargs="?", default=1000)
    ap.add_argument("--warehouse", type=Path, default=None, help="time the report of this warehouse file")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    if args.warehouse:
        of_warehouse(args.warehouse, args.runs, args.note)
    else:
        main(args.kols)
