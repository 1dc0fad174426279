"""A warehouse a year old, on both backends: does a refresh slow down, what does publishing cost,
how soon does an analyst see a commit?

Usage: python -m bench.lake_bench [--kols 1000] [--days 365] [--refresh 100] [--backends file,lake]

For each backend (the DuckDB file; DuckLake with its catalog in PostgreSQL and its Parquet files
in a local folder), a 100-KOL refresh (`pgy refresh`'s code path, the realistic simulator in its
own process at 20 requests/s) runs on a fresh warehouse and on one holding a year of daily
fetches of 1,000 KOLs (~126 notes each: ~46 million `note_snapshots` rows), generated directly
in SQL, not through the API. Figures: wall / floor of each refresh (floor = calls answered / 20
per second), what publishing costs, and commit-to-visible latency for a reader polling in
another process. The lake's files are on local disk here: moto, the S3 server of the tests,
keeps objects in Python memory and would measure moto, not the lake (the tests run the lake on
S3; bench/two_workers.py too).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import line, record, sim_counters, simulator_process

RATE = 20.0
SEED = 3
KEEP = 0.75  # of each simulated KOL's notes in the old warehouse: ~126 a KOL, the figure


def _notes_frame(kols: list[str]):  # type: ignore[no-untyped-def]
    import pandas as pd

    from pgy_pipeline.simulator import Simulator

    truth = Simulator("realistic", seed=SEED)
    rows = []
    for user in kols:
        notes = truth.expected_notes(user)
        for n in notes[: round(len(notes) * KEEP)]:
            rows.append(
                (
                    user,
                    n["noteId"],
                    n["title"],
                    n["date"],
                    n["isVideo"],
                    n["isAdvertise"],
                    n["brandName"],
                    n["imgUrl"],
                    n["readNum"],
                    n["likeNum"],
                    n["collectNum"],
                    n["thirdReadUserNum"],
                )
            )
    cols = [
        "user_id",
        "note_id",
        "title",
        "publish_date",
        "is_video",
        "is_advertise",
        "brand_name",
        "img_url",
        "read_num",
        "like_num",
        "collect_num",
        "third_read_user_num",
    ]
    frame = pd.DataFrame(rows, columns=cols)
    frame["idx"] = frame.groupby("user_id").cumcount()  # position in the listing: the page is idx // 8
    return frame


_FETCHES = """
INSERT INTO fetches (fetch_id, user_id, run_id, advertise_switch, order_type, note_type, is_third_platform, is_full,
    status, started_at, finished_at, reported_total, reported_total_min, notes_returned, pages, pages_reused, calls,
    retries, null_metrics, duplicates_dropped, stop_reason)
SELECT strftime(d.day, '%Y%m%dT060000-') || k.user_id, k.user_id, 'bench-history', 'ALL', 'LATEST', 'ALL', 'NO', true,
       'complete', d.day + INTERVAL 6 HOUR, d.day + INTERVAL 6 HOUR + INTERVAL 20 SECOND, k.n, k.n, k.n,
       greatest(1, ceil(k.n / 8)), 0, greatest(1, ceil(k.n / 8)), 0, 0, 0, 'total_reached'
FROM (SELECT user_id, count(*) AS n FROM _bench_notes GROUP BY ALL) k CROSS JOIN _bench_days d
"""
_NOTES = """
INSERT INTO notes (user_id, note_id, title, publish_date, is_video, is_advertise, brand_name, img_url, read_num,
    like_num, collect_num, third_read_user_num, first_seen_at, last_seen_at, gone_at, last_fetch_id, scope)
SELECT user_id, note_id, title, TRY_CAST(publish_date AS DATE), is_video, is_advertise, brand_name, img_url, read_num,
       like_num, collect_num, third_read_user_num, $first + INTERVAL 6 HOUR, $last + INTERVAL 6 HOUR, NULL,
       strftime($last, '%Y%m%dT060000-') || user_id, 'default'
FROM _bench_notes
"""
# Metrics grow towards today's value over the year, as a note's counts do.
_SNAPSHOTS = """
INSERT INTO note_snapshots (fetch_id, user_id, note_id, fetched_at, page_number, read_num, like_num, collect_num,
    third_read_user_num, scope)
SELECT strftime(d.day, '%Y%m%dT060000-') || n.user_id, n.user_id, n.note_id, d.day + INTERVAL 6 HOUR,
       1 + n.idx // 8,
       CAST(n.read_num * d.f AS BIGINT), CAST(n.like_num * d.f AS BIGINT), CAST(n.collect_num * d.f AS BIGINT),
       n.third_read_user_num, 'default'
FROM _bench_notes n CROSS JOIN _bench_days d
"""


def generate(wh, kols: list[str], days: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Fill ``wh`` with ``days`` daily full fetches of ``kols`` ending yesterday; returns rows and seconds."""
    from pgy_pipeline.warehouse.writes import store_fetch_totals

    notes = _notes_frame(kols)
    last = datetime.now(UTC).date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    t0 = time.perf_counter()
    with wh.write(publish=True) as conn:
        conn.register("_bench_notes", notes)
        conn.execute(
            "CREATE TEMP TABLE _bench_days AS SELECT CAST($first AS DATE) + CAST(i AS INTEGER) AS day, "
            "(i + 1.0) / $days AS f FROM range($days) t(i)",
            {"first": first, "days": days},
        )
        conn.execute(_FETCHES)
        conn.execute(_NOTES, {"first": first, "last": last})
        conn.execute(_SNAPSHOTS)
        store_fetch_totals(conn, "SELECT fetch_id FROM fetches")  # as the writer does with its snapshots
        rows = conn.execute("SELECT count(*) FROM note_snapshots").fetchone()[0]
        conn.unregister("_bench_notes")
        conn.execute("DROP TABLE _bench_days")
    return {"snapshots": rows, "notes": len(notes), "seconds": time.perf_counter() - t0}


def refresh(kols: list[str], api_url: str) -> dict[str, float]:
    from pgy_pipeline.cli import runner
    from pgy_pipeline.defs.definitions import build_defs
    from pgy_pipeline.warehouse.db import Warehouse

    before = sim_counters(api_url)["calls_total"]
    defs, instance = build_defs(), runner.get_instance()
    runner.add_partitions(instance, kols)
    # The file's publishes during the run (each copies the whole file, holding the writer lock).
    published = {"n": 0, "seconds": 0.0}
    publish = Warehouse._publish_locked

    def counted(self: Warehouse) -> None:
        t = time.perf_counter()
        try:
            publish(self)
        finally:
            published["n"] += 1
            published["seconds"] += time.perf_counter() - t

    Warehouse._publish_locked = counted  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        runs = runner.refresh(defs, instance, kols)
        wall = time.perf_counter() - t0
    finally:
        Warehouse._publish_locked = publish  # type: ignore[method-assign]
    calls = sim_counters(api_url)["calls_total"] - before
    assert all(r.success for r in runs), [r.failure for r in runs]
    return {
        "wall": wall,
        "calls": calls,
        "ratio": wall / (calls / RATE),
        **{f"publish_{k}": v for k, v in published.items()},
    }


def visible_latency(wh, trials: int = 7) -> float:  # type: ignore[no-untyped-def]
    """Median seconds from a write returning to a reader in another process seeing it: for the file
    that is after the write's publish (measured apart), for the lake right after COMMIT."""
    reader = Path(__file__).with_name("lake_reader.py")
    out = []
    for i in range(trials):
        marker = f"bench-{os.getpid()}-{i}"
        proc = subprocess.Popen(
            [sys.executable, str(reader), marker], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with wh.write(publish=True) as conn:
            conn.execute(
                "UPDATE kols SET label = $m WHERE user_id = (SELECT min(user_id) FROM kols)", {"m": marker}
            )
        committed = time.time()
        seen = float(proc.stdout.readline())
        proc.wait(30)
        out.append(seen - committed)
    return statistics.median(out)


def run_backend(
    name: str, args: argparse.Namespace, api_url: str, base: Path, pg_port: int | None
) -> list[str]:
    from pgy_pipeline.warehouse.backends import open_warehouse
    from pgy_pipeline.warehouse.db import Warehouse

    kols = [f"kol{i:05d}" for i in range(args.kols)]
    out, results = [], {}
    for age in ("fresh", "old"):
        data = base / f"{name}-{age}"
        data.mkdir()
        os.environ |= {"PGY_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home")}
        if name == "lake":
            from pgy_pipeline_tests import pg_server

            db = pg_server.create_database(pg_port)
            os.environ["PGY_WAREHOUSE_URL"] = f"ducklake:postgres:{pg_server.pg_conninfo(pg_port, db)}"
            os.environ["PGY_LAKE_DATA_PATH"] = f"{data / 'lake'}/"
        else:
            os.environ.pop("PGY_WAREHOUSE_URL", None)
        wh = open_warehouse(data)
        wh.ensure()
        if age == "old":
            g = generate(wh, kols, args.days)
            out.append(
                line(
                    f"{name}: year-old warehouse generated (note_snapshots rows)",
                    f"{g['snapshots']:,}",
                    "-",
                    None,
                )
            )
            out.append(line(f"{name}: generation time", f"{g['seconds']:.0f} s", "-", None))
        r = refresh(kols[: args.refresh], api_url)
        results[age] = r
        out.append(
            line(
                f"{name}: {args.refresh}-KOL refresh, {age} warehouse, wall / floor",
                f"{r['ratio']:.3f} ({r['wall']:.0f} s)",
                "-",
                None,
            )
        )
        if isinstance(wh, Warehouse):
            out.append(
                line(
                    f"{name}: publishes during that refresh, {age}",
                    f"{r['publish_n']:.0f} ({r['publish_seconds']:.1f} s copying)",
                    "-",
                    None,
                )
            )
            t0 = time.perf_counter()
            wh.publish()
            size = wh.published_path.stat().st_size / 2**20
            out.append(
                line(
                    f"{name}: one publish, {age} ({size:.0f} MiB copied)",
                    f"{time.perf_counter() - t0:.2f} s",
                    "-",
                    None,
                )
            )
        else:
            out.append(line(f"{name}: one publish, {age}", "0 (nothing copied)", "-", None))
        out.append(
            line(
                f"{name}: commit to visible for a reader, {age} (median of 7)",
                f"{visible_latency(wh):.3f} s",
                "-",
                None,
            )
        )
    slower = results["old"]["ratio"] / results["fresh"]["ratio"] - 1
    out.append(
        line(f"{name}: old vs fresh refresh (wall/floor)", f"{slower:+.1%}", "within 5%", abs(slower) <= 0.05)
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kols", type=int, default=1000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--refresh", type=int, default=100)
    ap.add_argument("--backends", default="file,lake")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pgy-lakebench-"))
    os.environ.pop("JUSTONEAPI_TOKEN", None)
    lines: list[str] = []
    try:
        with simulator_process("realistic", SEED) as url:
            os.environ["JUSTONEAPI_BASE_URL"] = url
            for name in args.backends.split(","):
                if name == "lake":
                    from pgy_pipeline_tests import pg_server

                    with pg_server.postgres_server() as port:
                        lines += run_backend(name, args, url, base, port)
                else:
                    lines += run_backend(name, args, url, base, None)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    record(
        f"A year-old warehouse on both backends ({args.kols} KOLs x {args.days} days, {args.refresh}-KOL refresh)",
        lines,
        "Lake: DuckLake, catalog in PostgreSQL 15 (loopback), Parquet files on local disk. Commit to visible is "
        "counted from the return of the write: for the file after its publish, for the lake after COMMIT.",
    )


if __name__ == "__main__":
    main()
