"""Refresh N KOLs through the real scheduled code path against the simulator, and a naive baseline.

Usage: python -m bench.refresh_bench N [--profile realistic] [--baseline-kols 20]

The pipeline path is `pgy refresh`'s: one Dagster run over the KOL partition range
(fetch, raw layer, DuckDB writes), then the engagement job. The simulator runs in its
own process and counts every call. The floor is the time the API's rate limit alone
imposes: distinct pages needed / 20 per second.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import requests

from bench.common import line, record, sim_counters, simulator_process

RATE = 20.0  # requests/s per token in the realistic profile
SEED = 3


def pages_needed(counts: dict[str, int], page_size: int = 8) -> int:
    # One call even for 0 notes; a total that fills the last page needs no extra empty page.
    return sum(max(1, math.ceil(n / page_size)) for n in counts.values())


def pipeline_refresh(n: int, profile: str, data: Path) -> dict:
    from pgy_pipeline.simulator import Simulator

    user_ids = [f"kol{i:05d}" for i in range(n)]
    truth = Simulator(profile, seed=SEED)  # not started: same seed, same data as the process below
    counts = {u: truth.note_count(u) for u in user_ids}
    with simulator_process(profile, SEED) as url:
        os.environ["JUSTONEAPI_BASE_URL"] = url
        os.environ["PGY_DATA_DIR"] = str(data)
        os.environ["DAGSTER_HOME"] = str(data / "dagster_home")
        os.environ.pop("JUSTONEAPI_TOKEN", None)
        from pgy_pipeline.cli import runner
        from pgy_pipeline.defs.definitions import build_defs

        defs = build_defs()
        instance = runner.get_instance()
        runner.add_partitions(instance, user_ids)
        t0 = time.perf_counter()
        runs = runner.refresh(defs, instance, user_ids)
        t_fetch = time.perf_counter() - t0
        eng = runner.refresh_engagement(defs, instance)
        wall = time.perf_counter() - t0
        c = sim_counters(url)
    import duckdb

    with duckdb.connect(str(data / "pgy.duckdb"), read_only=True) as conn:
        stored = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
        ledger = conn.execute("SELECT count(*) FROM api_calls").fetchone()[0]
    return {
        "runs_ok": all(r.success for r in runs) and eng.success,
        "failure": next((r.failure for r in runs if r.failure), None),
        "pages_needed": pages_needed(counts),
        "notes_truth": sum(counts.values()),
        "notes_stored": stored,
        "calls": c["calls_total"],
        "calls_by_code": c["by_code"],
        "ledger": ledger,
        "wall": wall,
        "t_fetch": t_fetch,
    }


def naive_baseline(kols: list[str], url: str) -> dict:
    """The vendor's sample code in a loop, with sleeps on 301/302: what a script would do."""
    endpoint = f"{url}/api/xiaohongshu-pgy/api/solar/kol/dataV2/notesDetail/v1"
    calls = pages = 0
    t0 = time.perf_counter()
    for user in kols:
        page = 1
        while True:
            response = requests.get(f"{endpoint}?token=baseline&userId={user}&pageNumber={page}", timeout=60)
            calls += 1
            body = response.json()
            if body["code"] in (301, 302):
                time.sleep(1.0)
                continue
            items = body["data"]["list"]
            pages += 1
            if len(items) < 8:
                break
            page += 1
    return {"pages": pages, "calls": calls, "wall": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("--profile", default="realistic")
    ap.add_argument("--baseline-kols", type=int, default=20)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="pgy-bench-"))
    try:
        r = pipeline_refresh(args.n, args.profile, data)
        with simulator_process(args.profile, SEED) as url:
            b = naive_baseline([f"kol{i:05d}" for i in range(args.baseline_kols)], url)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    floor = r["pages_needed"] / RATE
    ratio = r["wall"] / floor
    calls_ratio = r["calls"] / r["pages_needed"]
    fail_share = sum(v for k, v in r["calls_by_code"].items() if k != "0") / max(1, r["calls"])
    calls_target = 1.0 if args.profile == "clean" else 1.0 + 0.05 + 0.01
    naive_rate = b["pages"] / b["wall"]
    naive_est = r["pages_needed"] / naive_rate
    lines = [
        line(f"N={args.n} KOLs ({args.profile}): pages needed", str(r["pages_needed"]), "-", None),
        line(
            "notes stored / notes in the simulator",
            f"{r['notes_stored']}/{r['notes_truth']}",
            "equal",
            r["notes_stored"] == r["notes_truth"],
        ),
        line("wall time, refresh + engagement (s)", f"{r['wall']:.1f}", f"floor {floor:.1f}", None),
        line("  of which the refresh run (s)", f"{r['t_fetch']:.1f}", "-", None),
        line("wall time / floor (pages / 20 per s)", f"{ratio:.3f}", "<= 1.15", ratio <= 1.15),
        line(
            "billable calls / distinct pages needed",
            f"{calls_ratio:.4f}",
            f"<= {calls_target:.2f}",
            calls_ratio <= calls_target,
        ),
        line("share of calls that failed (301 etc.)", f"{fail_share:.4f}", "-", None),
        line(
            "calls in api_calls ledger / calls the simulator saw",
            f"{r['ledger']}/{r['calls']}",
            "equal",
            r["ledger"] == r["calls"],
        ),
        line(f"naive baseline on {args.baseline_kols} KOLs: pages/s", f"{naive_rate:.2f}", "-", None),
        line(
            "naive baseline extrapolated to the same pages (s)",
            f"{naive_est:.0f}",
            f"pipeline {r['wall']:.0f} s ({naive_est / r['wall']:.1f}x faster)",
            None,
        ),
    ]
    if not r["runs_ok"]:
        lines.append(f"run failed: {r['failure']}")
    record(f"Refresh of {args.n} KOLs against the `{args.profile}` simulator", lines)


if __name__ == "__main__":
    main()
