"""What a refresh costs after its last call: `pgy refresh` of N KOLs of one page each, no rate limit.

Usage: python -m bench.tail_bench [N=10000] [--no-record]

Every KOL has 1 to 8 notes (one call each), so the run is all per-KOL work: what grows with the
roster shows as the time between the last API answer and the command's end. The command runs as
a user runs it (its own process, after a warm-up refresh of one KOL); its peak RSS comes from the
kernel's accounting of that process (wait4). Issue 20 asks for 10 s at most after the last call
and less than 1 GiB at 10,000 KOLs. bench/profile_refresh.py --one-page says where the time goes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import PGY, line, pgy_env, record, sim_counters, simulator_process, warm_up
from bench.profile_refresh import SEED, one_page_counts


def run(n: int, keep: bool = False) -> dict:
    counts = one_page_counts(n)
    data = Path(tempfile.mkdtemp(prefix="pgy-tail-"))
    try:
        (data / "kols.csv").write_text(
            "user_id,label\n" + "".join(f"{u},\n" for u in counts), encoding="utf-8"
        )
        with simulator_process("clean", SEED, {"fixed_counts": counts}) as url:
            env = pgy_env(url, data, 1_000_000)
            pgy = PGY
            warm_up(env)
            before = sim_counters(url)
            started = datetime.now(UTC)
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [pgy, "refresh"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            assert proc.stdout is not None
            output = proc.stdout.read()  # drained while it runs, so a full pipe never stalls it
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            calls = sim_counters(url)["calls_total"] - before["calls_total"]
        if proc.returncode != 0:
            sys.exit(f"pgy refresh failed:\n{output.decode(errors='replace')[-3000:]}")
        import duckdb

        with duckdb.connect(str(data / "pgy.duckdb"), read_only=True) as conn:
            first, last, notes = conn.execute(
                "SELECT min(called_at), max(called_at + to_milliseconds(coalesce(latency_ms, 0)::BIGINT)),"
                " (SELECT count(*) FROM notes WHERE user_id <> 'warmup0')"
                " FROM api_calls WHERE user_id <> 'warmup0'"
            ).fetchone()
    finally:
        if keep:
            print(f"kept the data dir: {data}", file=sys.stderr)
        else:
            shutil.rmtree(data, ignore_errors=True)
    return {
        "wall": wall,
        "calls": calls,
        "notes": notes,
        "notes_truth": sum(counts.values()),
        "first_call": (first - started).total_seconds(),
        "last_call": (last - started).total_seconds(),
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=10_000)
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the data dir (to profile the report)")
    args = ap.parse_args()
    r = run(args.n, args.keep)
    after = r["wall"] - r["last_call"]
    lines = [
        line(
            f"`pgy refresh` of {args.n} KOLs of one page each: calls",
            str(r["calls"]),
            str(args.n),
            r["calls"] == args.n,
        ),
        line(
            "notes stored / in the simulator",
            f"{r['notes']}/{r['notes_truth']}",
            "equal",
            r["notes"] == r["notes_truth"],
        ),
        line("wall time of the command (s)", f"{r['wall']:.1f}", "-", None),
        line("first call after the start (s)", f"{r['first_call']:.1f}", "-", None),
        line("last answer after the start (s)", f"{r['last_call']:.1f}", "-", None),
        line(
            "  calls per second in between",
            f"{r['calls'] / max(r['last_call'] - r['first_call'], 1e-9):.0f}",
            "-",
            None,
        ),
        line("after the last answer (s)", f"{after:.1f}", "<= 10", after <= 10),
        line("peak RSS of the command (MiB)", f"{r['peak_rss_mib']:.0f}", "< 1024", r["peak_rss_mib"] < 1024),
    ]
    note = (
        f"Load average (1 min) at the end: {r['load']:.1f}. `clean` simulator in its own process, "
        "PGY_RATE_LIMIT_PER_S=1000000, SQLite instance, after a warm-up refresh of one KOL."
    )
    if args.no_record:
        print("\n".join(lines) + "\n\n" + note)
    else:
        record(
            f"After the last call: `pgy refresh` of {args.n} KOLs of one page each, no rate limit",
            lines,
            note,
        )


if __name__ == "__main__":
    main()
