"""28 simulated days of daily auto (incremental + weekly full rota) refreshes against full mode.

Usage: python -m bench.incremental_bench [N] [--days 28] [--rate 2000] [--omit P [--confirm-always]]

``--omit P``: each day's listing leaves out each live note with probability P, its total
agreeing (the simulator's ``p_note_omitted``): listings that contradict each other. The truth
stays every live note. ``--confirm-always`` turns off the evidence rule on confirmations
(refresh/modes.py, ``confirmation_pays``) to measure what it saves.

The refresh core (refresh.Refresher, no Dagster) against the `clean` simulator in-process,
with PGY_TODAY and the simulator's clock set to each day in turn (no real waiting). Day 0 is
the first (full) refresh of every KOL; days 1.. are auto. Each day, kol_engagement is computed
from the warehouse and from the simulator's truth of that day (the same SQL over the true
notes: what a full refresh would store), and compared column by column: deviation = sum over
KOLs of |auto - truth| / sum of |truth|. Full-mode calls per day are the pages a full refresh
needs that day (on `clean`, one call per page, as the tests show).
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from bench.common import line, record
from bench.sim_days import START, plan_day, refresher, run_plan, set_day
from pgy_pipeline.refresh.modes import DEFAULT_FULL_EVERY_DAYS, DEFAULT_WINDOW_DAYS, RefreshMode
from pgy_pipeline.refresh.plan import PlanSettings
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
from pgy_pipeline.warehouse.migrations import available_migrations, views_sql

COLS_30 = [f"{p}{m}_30d" for p in ("", "organic_", "coop_") for m in ("reads_median", "like_collect_median")]
COLS_90 = [c.replace("_30d", "_90d") for c in COLS_30]
COLS_ALL = ["notes", "reads_median", "like_collect_median", "like_collect_rate_pooled", "viral_high_rate"]


def truth_engagement(sim: Simulator, users: list[str], day: date) -> tuple[pd.DataFrame, int]:
    """kol_engagement over the simulator's true notes of ``day``, and the pages a full refresh needs."""
    rows, pages = [], 0
    for u in users:
        notes = sim.expected_notes(u, as_of=day)
        pages += max(1, math.ceil(len(notes) / sim.profile.page_size))
        rows += [
            (
                u,
                n["noteId"],
                n["date"],
                n["isVideo"],
                n["isAdvertise"],
                n["brandName"],
                n["readNum"],
                n["likeNum"],
                n["collectNum"],
            )
            for n in notes
        ]
    df = pd.DataFrame(
        rows,
        columns=[
            "user_id",
            "note_id",
            "publish_date",
            "is_video",
            "is_advertise",
            "brand_name",
            "read_num",
            "like_num",
            "collect_num",
        ],
    )
    con = duckdb.connect()
    for _, sql in available_migrations():
        con.execute(sql)
    con.execute(views_sql())
    con.register("truth", df)
    con.execute(
        "INSERT INTO notes BY NAME SELECT * REPLACE (CAST(publish_date AS DATE) AS publish_date), now() AS first_seen_at, "
        "now() AS last_seen_at, 'truth' AS last_fetch_id FROM truth"
    )
    refresh_kol_engagement(con, day)
    return con.execute("SELECT * FROM kol_engagement ORDER BY user_id").df(), pages


def deviation(got: pd.DataFrame, want: pd.DataFrame, col: str) -> float:
    both = got.set_index("user_id")[[col]].join(want.set_index("user_id")[[col]], rsuffix="_t").dropna()
    return float((both[col] - both[f"{col}_t"]).abs().sum() / max(both[f"{col}_t"].abs().sum(), 1e-12))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=1000)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--omit", type=float, default=0.0)
    ap.add_argument("--confirm-always", action="store_true")
    args = ap.parse_args()
    if args.confirm_always:  # the behaviour before the evidence rule, for comparison
        import pgy_pipeline.refresh.plan as plan_module

        plan_module.confirmation_pays = lambda listing_glitches, deletions: True
    users = [f"kol{i:05d}" for i in range(args.n)]
    cfg = PlanSettings(DEFAULT_WINDOW_DAYS, DEFAULT_FULL_EVERY_DAYS)
    data = Path(tempfile.mkdtemp(prefix="pgy-incr-bench-"))
    auto_calls, full_calls, worst = [], [], {c: 0.0 for c in COLS_30 + COLS_90 + COLS_ALL}
    t0 = time.perf_counter()
    try:
        with Simulator("clean", seed=3, as_of=START, p_note_omitted=args.omit) as sim:
            r = refresher(sim, data, rate=args.rate)
            for d in range(args.days + 1):
                day = START + timedelta(days=d)
                set_day(sim, day)
                plan = plan_day(data, users, RefreshMode.FULL if d == 0 else RefreshMode.AUTO, cfg)
                before = sim.counters().calls_total
                run_plan(r, plan)
                calls = sim.counters().calls_total - before
                with Warehouse(data).write(publish=True) as conn:
                    refresh_kol_engagement(conn, day)
                    got = conn.execute("SELECT * FROM kol_engagement ORDER BY user_id").df()
                want, pages = truth_engagement(sim, users, day)
                if d == 0:
                    continue  # the first refresh of a KOL is full in every mode
                auto_calls.append(calls)
                full_calls.append(pages)
                for c in worst:
                    worst[c] = max(worst[c], deviation(got, want, c))
                print(
                    f"day {d}: auto {calls} calls, full {pages}; 30d {max(worst[c] for c in COLS_30):.5f}",
                    flush=True,
                )
    finally:
        shutil.rmtree(data, ignore_errors=True)
    ratio = sum(auto_calls) / sum(full_calls)
    d30 = max(worst[c] for c in COLS_30)
    d90 = max(worst[c] for c in COLS_90)
    lines = [
        line("listings: each live note left out with probability", f"{args.omit:g}", "-", None),
        line(
            "next-day confirmations",
            "always (evidence rule off)" if args.confirm_always else "when they paid lately",
            "-",
            None,
        ),
        line("calls per day, auto (mean of days 1..)", f"{sum(auto_calls) / len(auto_calls):.0f}", "-", None),
        line(
            "calls per day, full mode (pages needed)", f"{sum(full_calls) / len(full_calls):.0f}", "-", None
        ),
        line("auto / full calls", f"{ratio:.3f}", "<= 0.30", ratio <= 0.30),
        line("auto calls per day, min..max", f"{min(auto_calls)}..{max(auto_calls)}", "even", None),
        line("worst day, worst 30-day column (deviation)", f"{100 * d30:.3f} %", "<= 0.5 %", d30 <= 0.005),
        line("worst day, worst 90-day column (deviation)", f"{100 * d90:.3f} %", "<= 1 %", d90 <= 0.01),
        *(line(f"worst day, all-time {c}", f"{100 * worst[c]:.3f} %", "-", None) for c in COLS_ALL),
        line("wall time (s)", f"{time.perf_counter() - t0:.0f}", "-", None),
    ]
    record(
        f"Incremental (auto) vs full: {args.n} KOLs x {args.days} simulated days, `clean` simulator"
        f"{f' (listings leave out {args.omit:g} of notes)' if args.omit else ''}, "
        f"window {DEFAULT_WINDOW_DAYS} d, full every {DEFAULT_FULL_EVERY_DAYS} d"
        f"{', confirmations always' if args.confirm_always else ''}",
        lines,
        "Columns compared with kol_engagement computed from the simulator's truth of each day "
        "(what a full refresh stores). Deviation = sum over KOLs |auto - truth| / sum |truth|.",
    )


if __name__ == "__main__":
    main()
