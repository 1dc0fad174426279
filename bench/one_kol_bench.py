"""What an ad-hoc refresh of one KOL costs beside a large roster: `pgy refresh KOL --force` on a
warehouse of N KOLs.

Usage: python -m bench.one_kol_bench [N=1000] [--runs 3] [--days D] [--no-record]

Fills a warehouse as a user would (`pgy refresh` of N KOLs of the `realistic` simulator's data,
with no rate limit, latency or 301), then times `pgy refresh <one KOL> --force` in its own process, ``--runs`` times, each
another KOL: the command's wall time, its fetch (the KOL's calls in api_calls, first call to last
answer) and the time outside the fetch, which is what the roster's size can add (the engagement
run's tables, checks and report over every KOL). Issue 20 asks that the work after the last call
not grow with the roster. ``--days D``: the warehouse holds D days of daily full fetches of the N
KOLs instead (bench/lake_bench.py's generator: a year of 1,000 KOLs is 46 million snapshots), as a
warehouse a year old does.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from bench.common import PGY, line, pgy_env, record, simulator_process, warm_up

SEED = 3
RATE = 1_000_000  # no rate limit: the fetch of one KOL is short, the rest is what is measured
# The realistic data, answered at once, every time: the fill takes a minute, and no KOL is left
# to the retry sensor (which would fail the command).
SIMULATOR = {"rate_limit_per_s": None, "latency_s": 0.0, "p_301": 0.0}


def _fetch_seconds(db: Path, user_id: str, since: float) -> tuple[float, int]:
    """The KOL's calls since ``since`` (epoch s): first call to last answer, and how many."""
    with duckdb.connect(str(db), read_only=True) as conn:
        first, last, calls = conn.execute(
            "SELECT min(epoch(called_at)), max(epoch(called_at) + coalesce(latency_ms, 0) / 1000), count(*) "
            "FROM api_calls WHERE user_id = ? AND epoch(called_at) >= ?",
            [user_id, since],
        ).fetchone()
    return (last - first if calls else 0.0), calls


def _fill(env: dict[str, str], data: Path, kols: list[str], days: int) -> None:
    """The warehouse of a first refresh of ``kols`` (``days`` 0), or of ``days`` of daily fetches."""
    if days:
        from bench.lake_bench import generate
        from pgy_pipeline.warehouse import Warehouse

        generate(Warehouse(data), kols, days)
        return
    fill = subprocess.run([PGY, "refresh"], env=env, capture_output=True, text=True)
    if fill.returncode != 0:
        sys.exit(f"filling the warehouse failed:\n{fill.stdout[-2000:]}{fill.stderr[-2000:]}")


def run(n: int, runs: int, days: int = 0) -> list[tuple[float, float, float, int]]:
    data = Path(tempfile.mkdtemp(prefix="pgy-onekol-"))
    kols = [f"kol{i:05d}" for i in range(1, n + 1)]
    (data / "kols.csv").write_text("user_id,label\n" + "".join(f"{k},\n" for k in kols), encoding="utf-8")
    try:
        with simulator_process("realistic", SEED, SIMULATOR) as url:
            env = pgy_env(url, data, RATE)
            _fill(env, data, kols, days)
            warm_up(env)
            out = []
            for kol in kols[1 : runs + 1]:
                since, started = time.time(), time.perf_counter()
                one = subprocess.run(
                    [PGY, "refresh", kol, "--force"], env=env, capture_output=True, text=True
                )
                wall = time.perf_counter() - started
                if one.returncode != 0:
                    sys.exit(f"`pgy refresh {kol}` failed:\n{one.stdout[-2000:]}{one.stderr[-2000:]}")
                fetch, calls = _fetch_seconds(data / "pgy.duckdb", kol, since - 1)
                out.append((wall, fetch, wall - fetch, calls))
                print(
                    f"{kol}: wall {wall:.2f} s, fetch {fetch:.2f} s ({calls} calls), outside {wall - fetch:.2f} s"
                )
            return out
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--days", type=int, default=0, help="a warehouse of this many days of daily fetches")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    results = run(args.n, args.runs, args.days)
    wall, fetch, outside, calls = (statistics.median(x) for x in zip(*results, strict=True))
    lines = [
        line(
            "roster of the warehouse (KOLs)",
            f"{args.n}, "
            + (f"{args.days} days of daily fetches" if args.days else "one `realistic` refresh"),
            "-",
            None,
        ),
        line("`pgy refresh KOL --force`, wall (s)", f"{wall:.2f}", "-", None),
        line("  its fetch, first call to last answer (s)", f"{fetch:.2f} ({calls:.0f} calls)", "-", None),
        line("  outside the fetch (s)", f"{outside:.2f}", "-", None),
        line(
            "  outside the fetch, fastest..slowest run (s)",
            f"{min(r[2] for r in results):.2f}..{max(r[2] for r in results):.2f}",
            "-",
            None,
        ),
    ]
    aged = f" ({args.days} days of history)" if args.days else ""
    title = f"An ad-hoc refresh of one KOL beside {args.n} KOLs{aged}, median of {args.runs}"
    if args.no_record:
        print("\n".join(lines))
    else:
        record(title, lines, args.note)


if __name__ == "__main__":
    main()
