"""Soak: the hostile fault matrix at a larger scale, with a reader hammering the snapshot.

Usage: python -m bench.soak [N_KOLS] [--seconds LIMIT]   (default 300 KOLs, 600 s limit)

Runs the real refresh job (in-process Dagster, temp instance) against the `hostile`
simulator with KOLs that can never converge (permission denied, unknown code), lets the
retry sensor drain its worklist as the daemon would, while an analyst thread reads
pgy.duckdb in a loop. Then compares DuckDB with the simulator's truth and scans every
file for the token. Every figure's target is zero.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb

from bench.common import line, record

TOKEN = "tok-SOAK-3c9e51d0"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=300)
    ap.add_argument("--seconds", type=float, default=600)
    args = ap.parse_args()

    from pgy_pipeline.cli import runner
    from pgy_pipeline.defs.definitions import build_defs
    from pgy_pipeline.defs.resources import JustOneApiResource, PgyResource
    from pgy_pipeline.simulator import Simulator

    good = [f"kol{i:04d}" for i in range(args.n)]
    bad = ["kol_denied", "kol_unknown_code"]
    tmp = Path(tempfile.mkdtemp(prefix="pgy-soak-"))
    sim = Simulator(
        "hostile",
        seed=21,
        rate_limit_per_s=None,
        latency_s=0.01,
        stall_s=0.6,
        forbidden_users={"kol_denied"},
        user_codes={"kol_unknown_code": 999},
    )
    sim.start()
    base = build_defs()
    pgy = PgyResource(data_dir=str(tmp / "data"), retry_cooldown_s=0.0, retry_max_attempts=8, fresh_for_h=0)
    api = JustOneApiResource(
        token=TOKEN,
        base_url=sim.base_url,
        read_timeout_s=0.3,
        max_attempts=3,
        backoff_base_s=0.01,
        backoff_max_s=0.1,
        rate_limit_per_s=500.0,
    )
    defs = dg.Definitions(
        assets=base.assets, asset_checks=base.asset_checks, jobs=base.jobs, resources={"api": api, "pgy": pgy}
    )
    reads, read_errors = 0, []
    stop = threading.Event()

    def analyst() -> None:
        nonlocal reads
        path = tmp / "data" / "pgy.duckdb"
        while not stop.is_set():
            if path.exists():
                try:
                    with duckdb.connect(str(path), read_only=True) as conn:
                        conn.execute("SELECT count(*), sum(read_num) FROM notes").fetchone()
                    reads += 1
                except Exception as exc:
                    read_errors.append(repr(exc))
            time.sleep(0.02)

    reader = threading.Thread(target=analyst, daemon=True)
    reader.start()
    t0 = time.perf_counter()
    deadline = t0 + args.seconds
    (tmp / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp / "home")) as instance:
        runner.add_partitions(instance, good + bad)
        runner.refresh(defs, instance, good + bad)
        rounds = 0
        while time.perf_counter() < deadline:
            runs = runner.run_due_retries(defs, instance, max_rounds=1)
            if not runs:
                break
            rounds += 1
    wall = time.perf_counter() - t0
    stop.set()
    reader.join()
    with duckdb.connect(str(tmp / "data" / "pgy.duckdb"), read_only=True) as conn:
        stored = {
            (u, n): m
            for u, n, *m in conn.execute(
                "SELECT user_id, note_id, read_num, like_num, collect_num, third_read_user_num FROM notes "
                "WHERE gone_at IS NULL"
            ).fetchall()
        }
        dups = conn.execute(
            "SELECT count(*) FROM (SELECT user_id, note_id FROM notes GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
        bad_rows = conn.execute(
            "SELECT count(*) FROM notes WHERE user_id IN ('kol_denied', 'kol_unknown_code')"
        ).fetchone()[0]
    truth = {
        (u, n["noteId"]): [n["readNum"], n["likeNum"], n["collectNum"], n["thirdReadUserNum"]]
        for u in good
        for n in sim.expected_notes(u)
    }
    faults = sim.counters().faults
    sim.stop()
    lost = len(truth.keys() - stored.keys())
    extra = len(stored.keys() - truth.keys())
    mismatched = sum(1 for k in truth.keys() & stored.keys() if list(truth[k]) != list(stored[k]))
    leaks = [str(p) for p in tmp.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    lines = [
        line("KOLs (hostile) + 2 that never converge; retry rounds", f"{args.n} + 2; {rounds}", "-", None),
        line("faults injected (502, truncated, stalls, strings...)", str(sum(faults.values())), "-", None),
        line("notes lost", str(lost), "0", lost == 0),
        line(
            "notes extra (incl. rows of never-converging KOLs)",
            str(extra + bad_rows),
            "0",
            extra + bad_rows == 0,
        ),
        line("duplicate (user_id, note_id)", str(dups), "0", dups == 0),
        line("metric mismatches", str(mismatched), "0", mismatched == 0),
        line("files holding the token", str(len(leaks)), "0", not leaks),
        line("analyst reads failed / done", f"{len(read_errors)}/{reads}", "0 failed", not read_errors),
        line("wall time (s)", f"{wall:.0f}", f"< {args.seconds:.0f}", wall < args.seconds),
    ]
    record(f"Soak: hostile matrix, {args.n} KOLs", lines)


if __name__ == "__main__":
    main()
