"""Normalise 1,000,000 stored notes into DuckDB, then recompute the engagement tables.

Usage: python -m bench.normalise_bench [N]   (default 1,000,000; the raw layer is generated
once under bench/out/ by bench/gen_raw.py and reused)

The measurement runs in a fresh process (peak memory is that process's max RSS). The
replay is `pgy replay`'s code path: raw JSONL files -> SQL normalisation -> upsert of
notes, snapshots and fetches, in one transaction. Peak memory is the process's max RSS.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from bench.common import OUT, line, record


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    raw_dir = OUT / f"raw{n // 1000}k"
    if not (raw_dir / "raw").exists():
        print(f"generating {n} notes of raw pages under {raw_dir} (once) ...", flush=True)
        # In its own process, so the measurement below starts from a clean slate.
        subprocess.run([sys.executable, "-m", "bench.gen_raw", str(raw_dir), str(n)], check=True)
    if "--measure" not in sys.argv:
        subprocess.run([sys.executable, "-m", "bench.normalise_bench", str(n), "--measure"], check=True)
        return
    for stale in (raw_dir / ".state", raw_dir / "pgy.duckdb"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()

    from pgy_pipeline.warehouse import Warehouse, queries
    from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
    from pgy_pipeline.warehouse.raw import RawStore
    from pgy_pipeline.warehouse.replay import replay_batch
    from pgy_pipeline.warehouse.writes import write_fetches

    raw = RawStore(raw_dir)
    wh = Warehouse(raw_dir)
    wh.ensure()
    t0 = time.perf_counter()
    rows, files = replay_batch(raw, raw.iter_done_fetches())
    with wh.write(publish=False) as conn:
        stats = write_fetches(conn, rows, files)
    t_norm = time.perf_counter() - t0
    t1 = time.perf_counter()
    with wh.write(publish=False) as conn:
        queries.row_count(conn, "note_engagement")
        kols = refresh_kol_engagement(conn, date(2026, 3, 8)).kols
    t_derived = time.perf_counter() - t1
    t2 = time.perf_counter()
    wh.publish()
    t_publish = time.perf_counter() - t2
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mib = Path(wh.published_path).stat().st_size / 2**20
    lines = [
        line("notes normalised from raw pages", f"{stats.snapshots:,}", f"{n:,}", stats.snapshots == n),
        line("normalise + upsert into DuckDB (s)", f"{t_norm:.2f}", "< 10", t_norm < 10),
        line("recompute note_engagement + kol_engagement (s)", f"{t_derived:.2f}", "< 3", t_derived < 3),
        line("peak memory, whole process (MiB)", f"{peak_mib:.0f}", "< 1024", peak_mib < 1024),
        line("KOLs in kol_engagement", f"{kols:,}", "-", None),
        line("publish the snapshot analysts read (s)", f"{t_publish:.2f}", "-", None),
        line("pgy.duckdb size (MiB)", f"{size_mib:.0f}", "-", None),
    ]
    record(f"Normalise {n:,} notes and recompute engagement", lines)


if __name__ == "__main__":
    main()
