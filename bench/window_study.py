"""Which incremental window? Cost and accuracy of each window length, from the simulator's truth.

Usage: python -m bench.window_study [N] [--days 28] [--windows 7,14,21,30] [--every 7]

No HTTP and no warehouse: for each simulated day the study applies the refresh rules to the
simulator's truth (auto mode: a full fetch on each KOL's rota day, else pages newest first
until a page reaches older notes than the window), keeps what such a refresh would store,
and compares the 30/90-day medians (reads and likes + collects, all/organic/cooperation) with
the truth of that day. The bench that runs the real pipeline is bench/incremental_bench.py.
"""

from __future__ import annotations

import argparse
import math
import statistics
from datetime import date, timedelta

from bench.common import line, record
from bench.sim_days import START
from pgy_pipeline.refresh.modes import FetchKind, RefreshMode, choose_kinds, window_start
from pgy_pipeline.simulator import PROFILES, Simulator

PAGE = PROFILES["clean"].page_size  # the study models the simulator's paging
SEED = 3

Stored = dict[str, tuple[date, int, int, bool]]  # note id -> (publish date, reads, likes+collects, coop)


def _rows(notes: list[dict]) -> Stored:
    return {
        n["noteId"]: (
            date.fromisoformat(n["date"]),
            n["readNum"],
            n["likeNum"] + (n["collectNum"] or 0),
            bool(n["isAdvertise"] or n["brandName"]),
        )
        for n in notes
    }


def _incremental_pages(notes: list[dict], stop_before: date) -> int:
    pages = max(1, math.ceil(len(notes) / PAGE))
    for p in range(math.ceil(len(notes) / PAGE)):
        if min(date.fromisoformat(n["date"]) for n in notes[p * PAGE : (p + 1) * PAGE]) < stop_before:
            return p + 1
    return pages


def _medians(rows: Stored, day: date) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for days in (30, 90):
        recent = [r for r in rows.values() if r[0] > day - timedelta(days=days)]
        for seg, keep in (("", lambda r: True), ("organic_", lambda r: not r[3]), ("coop_", lambda r: r[3])):
            sel = [r for r in recent if keep(r)]
            out[f"{seg}reads_median_{days}d"] = statistics.median(r[1] for r in sel) if sel else None
            out[f"{seg}lc_median_{days}d"] = statistics.median(r[2] for r in sel) if sel else None
    reads = [r[1] for r in rows.values()]
    out["reads_median_all"] = statistics.median(reads) if reads else None
    out["reads_sum_all"] = float(sum(reads))
    return out


def study(n: int, days: int, window: int, every: int) -> dict[str, float]:
    sim = Simulator("clean", seed=SEED)
    users = [f"kol{i:05d}" for i in range(n)]
    stored: dict[str, Stored] = {u: {} for u in users}
    last_full: dict[str, date | None] = dict.fromkeys(users)
    calls_auto = calls_full = 0
    worst: dict[str, float] = {}
    for d in range(days):
        day = START + timedelta(days=d)
        kinds = choose_kinds(users, RefreshMode.AUTO, day, every, last_full)
        diff: dict[str, float] = {}
        base: dict[str, float] = {}
        for u in users:
            truth = sim.expected_notes(u, as_of=day)
            calls_full += max(1, math.ceil(len(truth) / PAGE))
            if kinds[u] is FetchKind.FULL:
                calls_auto += max(1, math.ceil(len(truth) / PAGE))
                stored[u] = _rows(truth)  # a full fetch also drops deleted notes
                last_full[u] = day
            else:
                pages = _incremental_pages(truth, window_start(day, window))
                calls_auto += pages
                stored[u].update(_rows(truth[: pages * PAGE]))
            if d == 0:
                continue
            got, want = _medians(stored[u], day), _medians(_rows(truth), day)
            for col, t in want.items():
                s = got[col]
                if t is not None and s is not None:
                    diff[col] = diff.get(col, 0.0) + abs(s - t)
                    base[col] = base.get(col, 0.0) + abs(t)
        for col in diff:
            worst[col] = max(worst.get(col, 0.0), diff[col] / max(base[col], 1e-9))
    return {"calls_auto": calls_auto / days, "calls_full": calls_full / days, **worst}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=300)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--windows", default="7,14,21,30")
    ap.add_argument("--every", type=int, default=7)
    args = ap.parse_args()
    lines = []
    for w in (int(x) for x in args.windows.split(",")):
        r = study(args.n, args.days, w, args.every)
        ratio = r["calls_auto"] / r["calls_full"]
        d30 = max(v for k, v in r.items() if k.endswith("_30d"))
        d90 = max(v for k, v in r.items() if k.endswith("_90d"))
        lines += [
            line(
                f"window {w} d: calls/day auto vs full",
                f"{r['calls_auto']:.0f}/{r['calls_full']:.0f}",
                "-",
                None,
            ),
            line(f"window {w} d: auto / full calls", f"{ratio:.3f}", "<= 0.30", ratio <= 0.30),
            line(
                f"window {w} d: worst day, worst 30-day median",
                f"{100 * d30:.3f} %",
                "<= 0.5 %",
                d30 <= 0.005,
            ),
            line(
                f"window {w} d: worst day, worst 90-day median", f"{100 * d90:.3f} %", "<= 1 %", d90 <= 0.01
            ),
            line(
                f"window {w} d: worst day, all-time reads sum", f"{100 * r['reads_sum_all']:.3f} %", "-", None
            ),
            line(
                f"window {w} d: worst day, all-time reads median",
                f"{100 * r['reads_median_all']:.3f} %",
                "-",
                None,
            ),
        ]
    record(
        f"Window study: {args.n} KOLs, {args.days} days, full every {args.every} days (simulator truth, no HTTP)",
        lines,
        "Deviation of a column = sum over KOLs of |stored - truth| / sum of |truth|, the worst simulated day.",
    )


if __name__ == "__main__":
    main()
