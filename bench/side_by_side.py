"""pgy against dlt's `rest_api` and a plain `requests` loop: one full refresh, no rate limit, one simulator.

Usage: python -m bench.side_by_side [N=1000] [--rounds 1] [--no-record]

One `clean` simulator process (no latency, no faults, no rate limit) serves the three peers one
after the other, each as a command of its own, timed from its start to its exit:

- dlt: bench/dlt_peer.py in a virtualenv built from the `bench` group of uv.lock (dlt is never a
  dependency of the project; the first run builds bench/out/dlt-venv, later runs reuse it);
- plain: bench/plain_peer.py, a sequential loop with one `requests.Session`;
- pgy: `pgy refresh` of the roster with `PGY_RATE_LIMIT_PER_S=1000000` (the limiter out of
  the way), engagement tables and report included, as a user runs it.

Each peer gets one warm-up KOL first where it keeps state (pgy's instance and warehouse, dlt's
pipeline and schema), as on a user's second day. Every peer must store exactly the simulator's
notes (count, distinct ids, sums of reads and likes) with exactly the pages needed; the figures
say so. ``--rounds 2`` runs the peers twice, in reverse order the second time, to see the noise
of a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import BENCH_DIR, OUT, line, record, sim_counters, simulator_process

SEED = 3
DLT_VENV = OUT / "dlt-venv"
REPO = BENCH_DIR.parent


def truth(user_ids: list[str]) -> dict:
    from pgy_pipeline.simulator import Simulator

    sim = Simulator("clean", seed=SEED)  # not started: same seed, same data as the process
    notes = pages = reads = likes = 0
    for user_id in user_ids:
        listed = sim.expected_notes(user_id)
        notes += len(listed)
        pages += max(1, math.ceil(len(listed) / 8))
        reads += sum(n["readNum"] or 0 for n in listed)
        likes += sum(n["likeNum"] or 0 for n in listed)
    return {"notes": notes, "pages": pages, "sum_read": reads, "sum_like": likes}


def dlt_python() -> Path:
    """The dlt virtualenv's interpreter, built from uv.lock's `bench` group if missing."""
    python = DLT_VENV / "bin" / "python"
    if python.exists():
        return python
    uv = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    OUT.mkdir(parents=True, exist_ok=True)
    reqs = OUT / "dlt-requirements.txt"
    export = [uv, "export", "--only-group", "bench", "--frozen", "--no-hashes", "--no-header"]
    reqs.write_text(subprocess.run(export, cwd=REPO, check=True, capture_output=True, text=True).stdout)
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(DLT_VENV)], check=True)
    env = {**os.environ, "VIRTUAL_ENV": str(DLT_VENV)}
    # Compiled once, as `make install` compiles the project's: no peer pays for compiling at each start.
    subprocess.run([uv, "pip", "install", "-q", "--compile-bytecode", "-r", str(reqs)], check=True, env=env)
    return python


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(start epoch, wall s, stdout) of a command that must succeed."""
    start = time.time()
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return start, wall, done.stdout


def run_dlt(url: str, kols: Path, work: Path) -> dict:
    out = work / "dlt"
    peer = [str(dlt_python()), str(BENCH_DIR / "dlt_peer.py"), url]
    warm = work / "warmup.txt"
    warm.write_text("warmup0\n", encoding="utf-8")
    _timed([*peer, str(warm), str(out)])  # the pipeline's state and schema exist, as on a second day
    before = sim_counters(url)
    start, wall, stdout = _timed([*peer, str(kols), str(out)])
    calls = sim_counters(url)["calls_total"] - before["calls_total"]
    return {
        **json.loads(stdout.strip().splitlines()[-1]),
        "wall": wall,
        "start_epoch": start,
        "sim_calls": calls,
    }


def run_plain(url: str, kols: Path) -> dict:
    start, wall, stdout = _timed([sys.executable, "-m", "bench.plain_peer", url, str(kols)])
    return {**json.loads(stdout.strip().splitlines()[-1]), "wall": wall, "start_epoch": start}


def run_pgy(url: str, kols: Path, work: Path) -> dict:
    data = work / "pgy"
    data.mkdir()
    user_ids = kols.read_text(encoding="utf-8").split()
    (data / "kols.csv").write_text("user_id,label\n" + "".join(f"{u},\n" for u in user_ids), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "JUSTONEAPI_TOKEN"} | {
        "JUSTONEAPI_BASE_URL": url,
        "PGY_DATA_DIR": str(data),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "PGY_RATE_LIMIT_PER_S": "1000000",
    }
    pgy = str(Path(sys.executable).with_name("pgy"))
    _timed([pgy, "refresh", "warmup0"], env)  # the instance and the warehouse exist, as after `make run`
    before = sim_counters(url)
    start, wall, _ = _timed([pgy, "refresh"], env)
    sim_calls = sim_counters(url)["calls_total"] - before["calls_total"]
    import duckdb

    with duckdb.connect(str(data / "pgy.duckdb"), read_only=True) as conn:
        rows, distinct, reads, likes = conn.execute(
            "SELECT count(*), count(DISTINCT (user_id, note_id)), sum(read_num), sum(like_num)"
            " FROM notes WHERE user_id <> 'warmup0'"
        ).fetchone()
        calls, first, last = conn.execute(
            "SELECT count(*), epoch(min(called_at)),"
            " epoch(max(called_at + to_milliseconds(coalesce(latency_ms, 0)::BIGINT)))"
            " FROM api_calls WHERE user_id <> 'warmup0'"
        ).fetchone()
    return {
        "calls": calls,
        "sim_calls": sim_calls,
        "wall": wall,
        "start_epoch": start,
        "first_call_epoch": first,
        "last_call_epoch": last,
        "end_epoch": start + wall,
        "rows": rows,
        "distinct_notes": distinct,
        "sum_read": int(reads or 0),
        "sum_like": int(likes or 0),
    }


PEERS = ("dlt", "plain", "pgy")


def run_peer(name: str, url: str, kols: Path, work: Path) -> dict:
    # Each peer counts the calls the simulator saw during its timed command (warm-ups left out).
    if name == "dlt":
        r = run_dlt(url, kols, work)
    elif name == "plain":
        before = sim_counters(url)
        r = run_plain(url, kols)
        r["sim_calls"] = sim_counters(url)["calls_total"] - before["calls_total"]
    else:
        r = run_pgy(url, kols, work)
    r["first_call_s"] = r["first_call_epoch"] - r["start_epoch"]
    r["after_last_call_s"] = r["start_epoch"] + r["wall"] - r["last_call_epoch"]
    r["load"] = os.getloadavg()[0]
    print(
        f"{name}: {r['wall']:.1f} s, first call at {r['first_call_s']:.1f} s, "
        f"{r['after_last_call_s']:.1f} s after the last, {r['sim_calls']} calls, {r['rows']} notes, "
        f"load {r['load']:.1f}",
        flush=True,
    )
    return r


def exact(r: dict, t: dict) -> bool:
    return (
        r["rows"] == r["distinct_notes"] == t["notes"]
        and r["sum_read"] == t["sum_read"]
        and r["sum_like"] == t["sum_like"]
        and r["sim_calls"] == t["pages"]
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int, nargs="?", default=1000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    user_ids = [f"kol{i:05d}" for i in range(args.n)]
    t = truth(user_ids)
    dlt_python()  # built before any clock starts
    work = Path(tempfile.mkdtemp(prefix="pgy-sbs-"))
    results: dict[str, list[dict]] = {p: [] for p in PEERS}
    try:
        kols = work / "kols.txt"
        kols.write_text("\n".join(user_ids) + "\n", encoding="utf-8")
        with simulator_process("clean", SEED) as url:
            for i in range(args.rounds):
                for name in PEERS if i % 2 == 0 else tuple(reversed(PEERS)):
                    peer_dir = work / f"{name}-{i}"
                    peer_dir.mkdir()
                    results[name].append(run_peer(name, url, kols, peer_dir))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = {p: min(rs, key=lambda r: r["wall"]) for p, rs in results.items()}
    lines = [
        line(f"{args.n} KOLs, full refresh, `clean` simulator: pages needed", str(t["pages"]), "-", None),
        line("notes in the simulator", str(t["notes"]), "-", None),
    ]
    for name in PEERS:
        r = best[name]
        walls = "/".join(f"{x['wall']:.1f}" for x in results[name])
        lines += [
            line(f"{name}: wall time of the command (s)", f"{r['wall']:.1f}", "-", None),
            line(f"{name}: runs (s)", walls, "-", None) if args.rounds > 1 else None,
            line(f"{name}: pages per second", f"{t['pages'] / r['wall']:.0f}", "-", None),
            line(f"{name}: after the last call (s)", f"{r['after_last_call_s']:.1f}", "-", None),
            line(
                f"{name}: calls / notes / sums exact",
                f"{r['sim_calls']}/{r['rows']}/{'yes' if exact(r, t) else 'NO'}",
                "exact",
                exact(r, t),
            ),
        ]
    ratio_dlt = best["pgy"]["wall"] / best["dlt"]["wall"]
    ratio_plain = best["pgy"]["wall"] / best["plain"]["wall"]
    lines += [
        line("pgy / dlt wall time", f"{ratio_dlt:.2f}", "<= 1", ratio_dlt <= 1),
        line("pgy / plain loop wall time", f"{ratio_plain:.2f}", "-", None),
    ]
    lines = [x for x in lines if x is not None]
    load = ", ".join(f"{p} {best[p]['load']:.1f}" for p in PEERS)
    note = (
        f"Best of {args.rounds} round(s) per peer; load average (1 min) after each: {load}. "
        "dlt: rest_api source, defaults, a paginator that stops at the total (bench/dlt_peer.py), "
        "loading into DuckDB. plain: bench/plain_peer.py. pgy: `pgy refresh` with the engagement run "
        "and the report, PGY_RATE_LIMIT_PER_S=1000000."
    )
    if args.no_record:
        print("\n".join(lines) + "\n" + note)
    else:
        record(
            f"Side by side: {args.n} KOLs, full refresh, no rate limit (dlt, plain loop, pgy)", lines, note
        )


if __name__ == "__main__":
    main()
