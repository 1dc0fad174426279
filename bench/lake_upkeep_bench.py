"""What the lake's upkeep (warehouse/lake_upkeep.py) gives back: files, bytes, snapshots and a read's
time on a DuckLake warehouse written the way runs write it, before and after.

Usage: python -m bench.lake_upkeep_bench [--kols 50] [--days 20] [--notes 100] [--no-record]

A lake (SQLite catalog, files on local disk) gets ``--days`` days of daily full fetches of ``--kols``
KOLs of ``--notes`` notes each, one commit per fetch as a run's write batches of one KOL are (the
tests' Lab writes them through write_fetches: notes merged, snapshots, fetch totals), every note's
reads growing each day. Then it times a read an analyst or a run makes (a new read-only connection
attaching the lake, the KOLs' live notes and median reads, the snapshots counted), runs the upkeep
with no retention (``keep_days`` 0, ``grace_hours`` 0) twice (the second deletes what the first
freed, as next week's does), and times the read again. On S3 each file is a request: the read's
time there grows with the files far more than on a local disk.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.common import line, record
from pgy_pipeline.warehouse.lake import LakeConfig, LakeWarehouse, connect_lake
from pgy_pipeline.warehouse.migrations import migrate
from pgy_pipeline_tests.warehouse.lab import Lab, note, pages_of

READ = (
    "SELECT user_id, count(*), median(read_num) FROM note_engagement GROUP BY user_id",
    "SELECT count(*), sum(read_num) FROM note_snapshots",
)


def _fill(cfg: LakeConfig, kols: int, days: int, notes: int, work: Path) -> float:
    started = time.perf_counter()
    conn = connect_lake(cfg, read_only=False)
    migrate(conn, lake=True)
    lab = Lab(work / "raw", conn=conn)
    for day in range(days):
        for k in range(kols):
            items = [
                note(f"{k:08x}{i:016x}", reads=100 * (day + 1) + i, likes=i, collects=i // 2)
                for i in range(notes)
            ]
            lab.fetch(f"kol{k:05d}", pages_of(items, size=20))
        lab.now += timedelta(days=1)
    conn.close()
    return time.perf_counter() - started


def _state(cfg: LakeConfig, files: Path) -> dict[str, float]:
    on_disk = [p for p in files.rglob("*") if p.is_file()]
    times = []
    for _ in range(3):
        t = time.perf_counter()
        conn = connect_lake(cfg, read_only=True)
        for sql in READ:
            conn.execute(sql).fetchall()
        snapshots = conn.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()
        conn.close()
        times.append(time.perf_counter() - t)
    return {
        "files": len(on_disk),
        "mib": sum(p.stat().st_size for p in on_disk) / 2**20,
        "snapshots": float(snapshots[0]) if snapshots else 0.0,
        "read_s": statistics.median(times),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kols", type=int, default=50)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--notes", type=int, default=100)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pgy-upkeep-"))
    cfg = LakeConfig(f"sqlite:{work / 'catalog.sqlite'}", f"{work / 'files'}/")
    filled = _fill(cfg, args.kols, args.days, args.notes, work)
    before = _state(cfg, work / "files")
    lake = LakeWarehouse(cfg)
    first = lake.upkeep(0, 0)
    second = lake.upkeep(0, 0)
    lake.close()
    after = _state(cfg, work / "files")
    commits = args.kols * args.days
    lines = [
        line(
            "the lake: KOLs x days x notes, one commit a fetch",
            f"{args.kols} x {args.days} x {args.notes}",
            "-",
            None,
        ),
        line("commits written (s)", f"{commits} ({filled:.0f} s)", "-", None),
        line(
            "data files on disk, before -> after", f"{before['files']:.0f} -> {after['files']:.0f}", "-", None
        ),
        line("MiB on disk, before -> after", f"{before['mib']:.1f} -> {after['mib']:.1f}", "-", None),
        line(
            "snapshots, before -> after", f"{before['snapshots']:.0f} -> {after['snapshots']:.0f}", "-", None
        ),
        line(
            "a read: attach + notes + snapshots (s, median of 3)",
            f"{before['read_s']:.3f} -> {after['read_s']:.3f}",
            "-",
            None,
        ),
        line("the upkeep (s), first / second", f"{first.seconds:.1f} / {second.seconds:.1f}", "-", None),
        line(
            "first upkeep: snapshots expired, files merged, rewritten",
            f"{first.snapshots_expired}, {first.files_merged}, {first.files_rewritten}",
            "-",
            None,
        ),
        line(
            "files deleted from storage, first / second",
            f"{first.files_deleted} / {second.files_deleted}",
            "-",
            None,
        ),
    ]
    title = f"The lake's upkeep after {commits} commits (DuckLake, SQLite catalog, local files)"
    if args.no_record:
        print("\n".join(lines))
    else:
        record(
            title, lines, "no retention (keep_days 0, grace_hours 0), so that one bench shows a week's effect"
        )


if __name__ == "__main__":
    main()
