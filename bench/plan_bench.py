"""How close is `pgy plan` to the calls a refresh then makes? Realistic profile (301s, latency, 20/s).

Usage: python -m bench.plan_bench [N] [--days 3]

Day 0 refreshes N KOLs fully (nothing is known yet, so its estimate is only reported); each
later simulated day plans the daily (auto) refresh, runs it, and compares; the last day also
plans and runs a full refresh. Target: every estimate within 5% of the calls made.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.common import line, record
from bench.sim_days import START, plan_day, refresher, run_plan, set_day
from pgy_pipeline.refresh.modes import DEFAULT_FULL_EVERY_DAYS, DEFAULT_WINDOW_DAYS, RefreshMode
from pgy_pipeline.refresh.plan import PlanSettings
from pgy_pipeline.simulator import Simulator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=100)
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()
    users = [f"kol{i:05d}" for i in range(args.n)]
    cfg = PlanSettings(DEFAULT_WINDOW_DAYS, DEFAULT_FULL_EVERY_DAYS)
    data = Path(tempfile.mkdtemp(prefix="pgy-plan-bench-"))
    lines, ok_all, t0 = [], True, time.perf_counter()
    try:
        with Simulator("realistic", seed=3, as_of=START) as sim:
            r = refresher(sim, data, rate=20.0)
            runs = [(d, RefreshMode.FULL if d == 0 else RefreshMode.AUTO) for d in range(args.days)]
            runs.append((args.days - 1, RefreshMode.FULL))
            for d, mode in runs:
                set_day(sim, START + timedelta(days=d))
                plan = plan_day(data, users, mode, cfg)
                before = sim.counters().calls_total
                run_plan(r, plan)
                actual = sim.counters().calls_total - before
                err = abs(plan.total_calls - actual) / max(actual, 1)
                ok = None if d == 0 else err <= 0.05
                ok_all = ok_all and ok is not False
                lines.append(
                    line(
                        f"day {d} {mode.value}: estimate / actual calls",
                        f"{plan.total_calls:.0f}/{actual}",
                        "within 5%" if d else "- (nothing known)",
                        ok,
                    )
                )
                lines.append(line(f"day {d} {mode.value}: error", f"{100 * err:.2f} %", "<= 5 %", ok))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    lines.append(line("wall time (s)", f"{time.perf_counter() - t0:.0f}", "-", None))
    record(f"Plan vs actual calls: {args.n} KOLs, `realistic` simulator, {args.days} simulated days", lines)


if __name__ == "__main__":
    main()
