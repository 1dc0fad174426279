"""The engagement run at 1,000 KOLs with a year of daily snapshots (~45M note_snapshots rows).

Usage: python -m bench.figures_bench [KOLS [DB]]   (default 1,000 KOLs of 150 notes; DB keeps the
generated warehouse at that path and reuses it on the next run)

Notes are published over the last three years; every note already published is snapshotted
once a day for the last 365 days (the daily schedule's full refresh). The warehouse is
generated in SQL (no API, no raw layer), then the engagement run's SQL is timed, each
run (kol_engagement, kol_costs, kol_percentiles, note_lifecycle, kol_lifecycle, kol_flags),
step by step and then whole: the first run reads every snapshot, the next day's keeps the
lifecycle points of settled notes and reads the last weeks only (lifecycle.py).
Prints the figures and appends them to bench/RESULTS.md.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from bench.common import line, record
from pgy_pipeline.warehouse import figures, flags, lifecycle
from pgy_pipeline.warehouse.engagement import build_kol_engagement, refresh_kol_engagement
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline.warehouse.migrations import migrate
from pgy_pipeline.warehouse.writes import store_fetch_totals

AS_OF = date(2026, 12, 1)
NEXT = date(2026, 12, 2)  # the next day's run: the lifecycle keeps the points of settled notes
NOTES_PER_KOL = 150
CATEGORIES = ("美食", "穿搭", "美妆", "母婴", "旅行", "数码", "家居", "健身")


def build(db: Path, kols: int) -> int:
    with duckdb.connect(str(db)) as conn:
        migrate(conn)
        conn.execute(
            "INSERT INTO kols (user_id, label, category, added_at) SELECT printf('kol%05d', i), '达人' || i, "
            f"list_element({list(CATEGORIES)}, 1 + i % {len(CATEGORIES)}), now() FROM range({kols}) t(i)"
        )
        # Note i of KOL k: published (i * 7 + k) % 1095 days before AS_OF; reads from a hash.
        conn.execute(
            "INSERT INTO notes SELECT printf('kol%05d', k), printf('%024x', k * 1000 + i), 'title ' || i, "
            f"DATE '{AS_OF}' - ((i * 7 + k) % 1095)::INT, i % 3 = 0, i % 5 = 0, "
            "CASE WHEN i % 5 = 0 THEN 'brand' || (i % 7) END, NULL, "
            "1000 + hash(k, i) % 50000, 30 + hash(i, k) % 2000, 10 + hash(k + i) % 500, 0, now(), now(), NULL, "
            f"'f', 'default' FROM range({kols}) a(k), range({NOTES_PER_KOL}) b(i)"
        )
        conn.execute(
            "INSERT INTO kol_prices (user_id, price_type, price, valid_from) "
            f"SELECT printf('kol%05d', i), 'photo_note', 1000 + i, DATE '{AS_OF}' - 30 FROM range({kols}) t(i) "
            "WHERE i % 4 <> 0"
        )
        # Day d of the last year, oldest first (the table grows in time order, as the pipeline
        # appends it): every note published by then, its metrics grown towards the final ones.
        for d in range(364, -1, -1):
            conn.execute(
                "INSERT INTO note_snapshots "
                f"SELECT 'f{d}', n.user_id, n.note_id, CAST(DATE '{AS_OF}' - {d} AS TIMESTAMPTZ) + INTERVAL 4 HOUR, 1, "
                f"CAST(n.read_num * least(1.0, ((DATE '{AS_OF}' - {d}) - n.publish_date + 1) / 10.0) AS BIGINT), "
                f"CAST(n.like_num * least(1.0, ((DATE '{AS_OF}' - {d}) - n.publish_date + 1) / 10.0) AS BIGINT), "
                "n.collect_num, 0, 'default' "
                f"FROM notes n WHERE n.publish_date <= DATE '{AS_OF}' - {d}"
            )
        store_fetch_totals(conn, "SELECT DISTINCT fetch_id FROM note_snapshots")  # as the writer does
        row = conn.execute("SELECT count(*) FROM note_snapshots").fetchone()
        conn.execute("CHECKPOINT")
    return int(row[0]) if row else 0


def main(kols: int, keep: Path | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = keep or Path(tmp) / "pgy.duckdb"
        started = time.monotonic()
        if keep and keep.exists():  # reuse a warehouse generated before (4 minutes at 1,000 KOLs)
            with duckdb.connect(str(db), read_only=True) as conn:
                row = conn.execute("SELECT count(*) FROM note_snapshots").fetchone()
            snapshots = int(row[0]) if row else 0
        else:
            snapshots = build(db, kols)
        t_build = time.monotonic() - started
        s = EngagementSettings()
        with duckdb.connect(str(db)) as conn:
            conn.execute("DROP TABLE IF EXISTS note_lifecycle")  # a kept warehouse: start as a first run
            steps = {
                "kol_engagement": lambda: build_kol_engagement(conn, AS_OF, s),
                "kol_costs + kol_percentiles": lambda: (
                    conn.execute(figures.KOL_COSTS_SQL, {"as_of": AS_OF, "stale": s.price_stale_days}),
                    conn.execute(figures.KOL_PERCENTILES_SQL, {"as_of": AS_OF, "peer_min": s.peer_min_kols}),
                ),
                "note_lifecycle + kol_lifecycle, every snapshot": lambda: lifecycle.refresh_lifecycle(
                    conn, AS_OF, s
                ),
                "note_lifecycle + kol_lifecycle, the next day": lambda: lifecycle.refresh_lifecycle(
                    conn, NEXT, s
                ),
                "kol_flags": lambda: flags.refresh_flags(conn, AS_OF, s),
            }
            seconds = {}
            for name, step in steps.items():
                started = time.monotonic()
                step()
                seconds[name] = time.monotonic() - started
            conn.execute("DROP TABLE note_lifecycle")
            runs = {}
            for name, day in (("first", AS_OF), ("next day", NEXT)):
                started, cpu, load = time.monotonic(), time.process_time(), os.getloadavg()[0]
                refresh_kol_engagement(conn, day, s)
                runs[name] = (time.monotonic() - started, time.process_time() - cpu, load)
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM note_lifecycle), (SELECT count(*) FROM rising_notes), "
                "(SELECT count(*) FROM kol_flags), (SELECT count(*) FROM kol_percentiles)"
            ).fetchone()
        assert counts is not None
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        line("KOLs x notes", f"{kols:,} x {NOTES_PER_KOL}", "-", None),
        line("note_snapshots rows (a year of daily snapshots)", f"{snapshots:,}", "-", None),
        line("generate the warehouse (s)", f"{t_build:.1f}", "-", None),
        *(line(f"step: {name} (s)", f"{t:.2f}", "-", None) for name, t in seconds.items()),
        line(
            "whole run, first (reads every snapshot) (s)",
            f"{runs['first'][0]:.2f}",
            "< 10",
            runs["first"][0] < 10,
        ),
        line(
            "  its CPU time, both threads / load average",
            f"{runs['first'][1]:.2f} / {runs['first'][2]:.1f}",
            "-",
            None,
        ),
        line(
            "whole run, the next day (keeps settled points) (s)",
            f"{runs['next day'][0]:.2f}",
            "< 3",
            runs["next day"][0] < 3,
        ),
        line(
            "  its CPU time, both threads / load average",
            f"{runs['next day'][1]:.2f} / {runs['next day'][2]:.1f}",
            "-",
            None,
        ),
        line("note_lifecycle rows", f"{counts[0]:,}", "-", None),
        line(
            "rising notes / flags / percentile rows",
            f"{counts[1]:,} / {counts[2]:,} / {counts[3]:,}",
            "-",
            None,
        ),
        line("peak memory, whole process (MiB)", f"{peak_mib:.0f}", "-", None),
    ]
    record(f"Engagement run with lifecycle, {kols:,} KOLs and a year of daily snapshots", lines)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, Path(sys.argv[2]) if len(sys.argv) > 2 else None)
