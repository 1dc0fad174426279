"""Where a refresh's time goes: `pgy refresh` of N KOLs, in this process, with timers on each kind of work.

Usage: python -m bench.profile_refresh [N=1000] [--one-page] [--no-record]

The simulator (`clean`: no latency, no faults, no rate limit) runs in its own process, and the
limiter is out of the way (`PGY_RATE_LIMIT_PER_S=1000000`), so the pipeline itself is the
bottleneck. A warm-up `pgy refresh` of one KOL (another process) creates the instance and the
warehouse, as `make run` does for a new user. Then this process runs `pgy refresh` through the
same click command, with bench/probes.py timers on the functions that do each kind of work:

- per page: the HTTP round trip (requests), parsing (envelope + contract, building the Page),
  the budget's reservation and settling, the raw layer's append and its fsync;
- per KOL: preparing the fetch (raw look-ups, its meta file), the DuckDB write (lock, connect,
  statements, commit, publishing the snapshot), sealing the fetch, the state file, the Dagster
  events (the outcome's metadata, the event log writes);
- per run: the plan, loading the definitions, the engagement run (kol_engagement, checks, the
  report) and the summary.

Each label's wall and CPU seconds are its own (nested labels are subtracted), summed over
threads; CPU is the calling thread's (`time.thread_time`). The process's CPU (all threads,
DuckDB's included) is measured per phase with getrusage; what no label saw is shown as such.
``--one-page``: N KOLs of 1 to 8 notes each (one page each), to see what grows with KOLs.
The timers cost a few microseconds per call; bench/side_by_side.py times the same refresh bare.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import line, record, sim_counters, simulator_process
from bench.probes import Probes

SEED = 3
# label -> what it scales with
PER_PAGE = "page"
PER_KOL = "KOL"
PER_RUN = "run"


def one_page_counts(n: int) -> dict[str, int]:
    # 1..8 notes: every KOL answers in one page, full or short.
    return {f"k{i:04d}": 1 + i % 8 for i in range(n)}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Phases:
    """Wall and process CPU of the command's phases, in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float]] = []  # label, start, wall, cpu

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = time.perf_counter(), _cpu()
            try:
                return original(*args, **kwargs)
            finally:
                self.rows.append((label, t0, time.perf_counter() - t0, _cpu() - c0))

        setattr(owner, name, timed)


def install(probes: Probes, phases: Phases) -> dict[str, str]:
    """Wrap the functions that do each kind of work; returns label -> what it scales with."""
    import dagster as dg
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    # By their modules: the package pgy_pipeline.defs.assets exports assets of the same names.
    cli_refresh = importlib.import_module("pgy_pipeline.cli.refresh")
    engagement_asset = importlib.import_module("pgy_pipeline.defs.assets.engagement")
    kol_notes = importlib.import_module("pgy_pipeline.defs.assets.kol_notes")
    steps = importlib.import_module("pgy_pipeline.defs.assets.refresh_steps")
    report_asset = importlib.import_module("pgy_pipeline.defs.assets.report")
    client = importlib.import_module("pgy_pipeline.justoneapi.client")
    engine = importlib.import_module("pgy_pipeline.refresh.engine")
    landing = importlib.import_module("pgy_pipeline.refresh.landing")
    from pgy_pipeline.cli import heap, runner
    from pgy_pipeline.defs import dagster_private
    from pgy_pipeline.justoneapi.call_hooks import CallHooks
    from pgy_pipeline.justoneapi.ratelimit import RateLimiter
    from pgy_pipeline.justoneapi.stop_switch import StopSwitch
    from pgy_pipeline.warehouse.db import Warehouse
    from pgy_pipeline.warehouse.raw import RawStore
    from pgy_pipeline.warehouse.state import PipelineState

    phases.wrap(heap, "load_pipeline", "load the definitions and the instance")
    phases.wrap(runner, "refresh", "the refresh run")
    phases.wrap(runner, "refresh_engagement", "the engagement run (tables, checks, report)")
    phases.wrap(cli_refresh, "_print_refresh_summary", "the summary")

    labels: list[tuple[Any, str, str, str]] = [
        (client.NotesDetailClient, "_attempt", "HTTP round trip (requests)", PER_PAGE),
        (client, "classify", "parse: envelope + contract (classify)", PER_PAGE),
        (client, "build_page", "parse: build the Page (models)", PER_PAGE),
        (RateLimiter, "acquire", "limiter: wait for a slot", PER_PAGE),
        (StopSwitch, "gate", "budget: take a call of the block (SQLite per block)", PER_PAGE),
        (CallHooks, "called", "call bookkeeping: settle budget, ledger, log", PER_PAGE),
        (RawStore, "append", "raw: append a page (encode, write)", PER_PAGE),
        (RawStore, "_sync", "raw: fsync a fetch's pages (grouped)", PER_KOL),
        (client, "fetch_all", "pagination: windows, page threads, stop rules", PER_PAGE),
        (RawStore, "resumable", "raw: look for a resumable fetch", PER_KOL),
        (RawStore, "begin", "raw: begin a fetch (meta file)", PER_KOL),
        (RawStore, "mark_done", "raw: seal a fetch (done file)", PER_KOL),
        (landing.Lander, "land", "landing: batch of landed KOLs (rows, seals)", PER_KOL),
        (Warehouse, "_connect_rw", "DuckDB: connect + schema check", PER_KOL),
        (landing, "write_fetches", "DuckDB: write_fetches statements", PER_KOL),
        (Warehouse, "_checkpoint_and_publish", "DuckDB: checkpoint + publish the snapshot", PER_KOL),
        (Warehouse, "publish", "DuckDB: the run's last publish", PER_RUN),
        (PipelineState, "reserve_block", "budget: reserve a block of calls (SQLite)", PER_PAGE),
        (PipelineState, "clear_failures", "state: clear the failures of landed KOLs (SQLite)", PER_KOL),
        (engine.Refresher, "_report", "Dagster: outcome -> materialisations", PER_KOL),
        (dg.DagsterInstance, "handle_new_event", "Dagster: handle an event", PER_KOL),
        (SqliteEventLogStorage, "store_event", "Dagster: event log write (SQLite)", PER_KOL),
        (
            dagster_private._SqliteEventLogWithBatches,
            "store_event_batch",
            "Dagster: event log batch write (SQLite)",
            PER_KOL,
        ),
        (kol_notes, "plan_run", "plan the run (raw and warehouse reads)", PER_RUN),
        (steps, "sync_kols", "roster into the warehouse (before any call)", PER_RUN),
        (steps, "load_prices", "prices into the warehouse (before any call)", PER_RUN),
        (kol_notes, "run_selected_checks", "asset checks", PER_RUN),
        (engagement_asset, "refresh_kol_engagement", "engagement: kol_engagement and figures SQL", PER_RUN),
        (report_asset, "write_report", "report: write_report", PER_RUN),
    ]
    scale = {}
    for owner, name, label, per in labels:
        probes.wrap(owner, name, label)
        scale[label] = per
    probes.wrap_cm(Warehouse, "write", "DuckDB: write() lock, BEGIN, COMMIT")
    scale["DuckDB: write() lock, BEGIN, COMMIT"] = PER_KOL
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        # Named after the raw file it makes durable: a page, or a fetch's meta/done file.
        label = {
            "raw: append a page (encode, write)": "raw: fsync a page",
            "raw: fsync a fetch's pages (grouped)": "raw: fsync a fetch's pages (the fsync)",
        }.get(probes.current() or "", "fsync: meta/done files")
        with probes.timed(label):
            real_fsync(fd)

    os.fsync = fsync  # type: ignore[assignment]
    scale["raw: fsync a page"] = PER_PAGE
    scale["fsync: meta/done files"] = PER_KOL
    scale["raw: fsync a fetch's pages (the fsync)"] = PER_KOL
    return scale


# What the step's own thread does, each label with what it calls (these never nest in each other).
STEP_TIMELINE = (
    "Dagster: handle an event",
    "landing: batch of landed KOLs (rows, seals)",
    "DuckDB: the run's last publish",
    "plan the run (raw and warehouse reads)",
    "roster into the warehouse (before any call)",
    "prices into the warehouse (before any call)",
    "asset checks",
    "engagement: kol_engagement and figures SQL",
    "report: write_report",
)


def _env(url: str, data: Path, rate: float | None) -> dict[str, str]:
    return {
        "JUSTONEAPI_BASE_URL": url,
        "PGY_DATA_DIR": str(data),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "PGY_RATE_LIMIT_PER_S": f"{rate:g}" if rate else "1000000",
    }


def profile(url: str, data: Path, user_ids: list[str], rate: float | None = None) -> dict[str, Any]:
    """`pgy refresh` of ``user_ids`` in this process, probed; the figures of the run."""
    env = _env(url, data, rate)
    rows = "".join(f"{u},\n" for u in user_ids)
    (data / "kols.csv").write_text("user_id,label\n" + rows, encoding="utf-8")
    pgy = str(Path(sys.executable).with_name("pgy"))
    warm = subprocess.run(
        [pgy, "refresh", "warmup0"], env={**os.environ, **env}, capture_output=True, text=True
    )
    if warm.returncode != 0:
        sys.exit(f"the warm-up refresh failed:\n{warm.stdout[-2000:]}{warm.stderr[-2000:]}")
    os.environ.pop("JUSTONEAPI_TOKEN", None)
    os.environ.update(env)
    before = sim_counters(url)
    t0, c0 = time.perf_counter(), _cpu()
    import pgy_pipeline.cli as cli  # the command's imports, timed as its first phase

    imports = (time.perf_counter() - t0, _cpu() - c0)
    probes, phases = Probes(), Phases()
    scale = install(probes, phases)
    status: object = 0
    try:
        cli.main.main(["refresh"], standalone_mode=False)
    except SystemExit as exc:
        status = exc.code
    end = time.perf_counter()
    cpu_total = _cpu() - c0
    probes.undo()
    after = sim_counters(url)
    http = "HTTP round trip (requests)"
    first = probes.first.get(http, end)
    last = probes.last.get(http, end)
    windows = {
        "before the first call": (t0, first),
        "during the fetch": (first, last),
        "after the last answer": (last, end),
    }
    timeline = {
        label: [probes.step_time_between(label, a, b) for a, b in windows.values()] for label in STEP_TIMELINE
    }
    return {
        "status": status,
        "windows": {k: b - a for k, (a, b) in windows.items()},
        "timeline": timeline,
        "imports": imports,
        "phases": phases.rows,
        "t0": t0,
        "end": end,
        "cpu_total": cpu_total,
        "labels": probes.by_label(),
        "scale": scale,
        "first_call": first,
        "last_call": last,
        "calls": after["calls_total"] - before["calls_total"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def report_lines(r: dict[str, Any], kols: int) -> list[str]:
    labels, scale = r["labels"], r["scale"]
    pages = int(labels.get("raw: append a page (encode, write)", {}).get("calls", 0))
    wall = r["end"] - r["t0"]
    fetch = r["last_call"] - r["first_call"]
    out = [
        line("KOLs / pages stored / calls the simulator saw", f"{kols}/{pages}/{r['calls']}", "-", None),
        line("wall time of the command, in process (s)", f"{wall:.1f}", "-", None),
        line("  CPU time of the process, all threads (s)", f"{r['cpu_total']:.1f}", "-", None),
        line("  imports of the command (s wall / CPU)", "{:.1f} / {:.1f}".format(*r["imports"]), "-", None),
    ]
    for label, _start, pwall, pcpu in r["phases"]:
        out.append(line(f"  {label} (s wall / CPU)", f"{pwall:.1f} / {pcpu:.1f}", "-", None))
    out += [
        line("first call after the start (s)", f"{r['first_call'] - r['t0']:.1f}", "-", None),
        line("fetch: first call to last answer (s)", f"{fetch:.1f}", "-", None),
        line("  pages per second in the fetch", f"{pages / max(fetch, 1e-9):.0f}", "-", None),
        line("after the last answer (s)", f"{r['end'] - r['last_call']:.1f}", "-", None),
        line("peak RSS of the process (MiB)", f"{r['peak_rss_mib']:.0f}", "< 1024", r["peak_rss_mib"] < 1024),
        "",
        f"{'where the time goes (own time, nested labels subtracted)':<58} {'calls':>7} {'CPU s':>7} "
        f"{'wall s':>7} {'step s':>7} {'CPU ms per':>14}",
    ]
    seen_cpu = 0.0
    for per in (PER_PAGE, PER_KOL, PER_RUN):
        rows = sorted(
            ((k, v) for k, v in labels.items() if scale.get(k) == per), key=lambda kv: -kv[1]["cpu"]
        )
        for label, v in rows:
            seen_cpu += v["cpu"]
            unit = {PER_PAGE: pages, PER_KOL: kols, PER_RUN: 1}[per]
            out.append(
                f"{label:<58} {int(v['calls']):>7} {v['cpu']:>7.2f} {v['wall']:>7.2f} {v['step_wall']:>7.2f} "
                f"{1000 * v['cpu'] / max(unit, 1):>9.3f} {per:<4}"
            )
    out.append(
        f"{'CPU no label saw (Dagster, DuckDB threads, GC, imports...)':<58} {'':>7} "
        f"{r['cpu_total'] - seen_cpu:>7.2f}"
    )
    names = list(r["windows"])
    out += [
        "",
        f"{'the step thread, wall s (with what each calls)':<58} " + " ".join(f"{n:>22}" for n in names),
    ]
    for label, spans in r["timeline"].items():
        out.append(f"{label:<58} " + " ".join(f"{x:>22.2f}" for x in spans))
    rest = [r["windows"][n] - sum(spans[i] for spans in r["timeline"].values()) for i, n in enumerate(names)]
    out.append(
        f"{'the rest (Dagster runs and steps, imports, waiting)':<58} "
        + " ".join(f"{x:>22.2f}" for x in rest)
    )
    out.append(f"{'window length':<58} " + " ".join(f"{r['windows'][n]:>22.2f}" for n in names))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=1000)
    ap.add_argument("--one-page", action="store_true", help="N KOLs of 1-8 notes each")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--profile", default="clean", help="the simulator's profile (default: clean)")
    ap.add_argument("--rate", type=float, default=None, help="the token's calls/s (default: no limit)")
    args = ap.parse_args()
    overrides: dict[str, Any] = {"rate_limit_per_s": args.rate}
    if args.one_page:
        counts = one_page_counts(args.n)
        overrides["fixed_counts"] = counts
        user_ids = list(counts)
    else:
        user_ids = [f"kol{i:05d}" for i in range(args.n)]
    data = Path(tempfile.mkdtemp(prefix="pgy-profile-"))
    try:
        with simulator_process(args.profile, SEED, overrides) as url:
            r = profile(url, data, user_ids, args.rate)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    if r["status"] not in (0, None, 1):  # 1: some KOL failed (the retry sensor's); the timings stand
        sys.exit(f"pgy refresh exited {r['status']}")
    if r["status"] == 1:
        print("note: some KOL failed (exit 1); the figures below include its failure", file=sys.stderr)
    lines = report_lines(r, len(user_ids))
    kind = "of one page each" if args.one_page else "full refresh"
    limit = f"{args.rate:g} calls/s" if args.rate else "no rate limit"
    setting = f"PGY_RATE_LIMIT_PER_S={args.rate:g}" if args.rate else "PGY_RATE_LIMIT_PER_S=1000000"
    note = (
        f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f}. `{args.profile}` simulator in its own "
        f"process ({limit}), {setting}, SQLite instance. step s: wall spent in the step's own thread "
        "(which writes DuckDB and Dagster's events while the workers fetch)."
    )
    if args.no_record:
        print("\n".join(lines) + "\n\n" + note)
    else:
        record(f"Profile of `pgy refresh`: {args.n} KOLs {kind}, `{args.profile}`, {limit}", lines, note)


if __name__ == "__main__":
    main()
