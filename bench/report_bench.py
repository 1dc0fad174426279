"""How long the HTML report takes for a large roster: 1,000 KOLs of 60 notes, 3 refreshes each.

Run: `python -m bench.report_bench [KOLS]` (from .venv). Prints the figures and appends them
to bench/RESULTS.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from bench.common import line, record
from pgy_pipeline.report import write_report
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.engagement import refresh_kol_engagement


def build(data: Path, kols: int) -> Path:
    Warehouse(data).ensure()
    db = Warehouse(data).working_path
    with duckdb.connect(str(db)) as conn:
        conn.execute(
            f"INSERT INTO kols (user_id, label, added_at) SELECT printf('kol%05d', i), '达人' || i, now() FROM range({kols}) t(i)"
        )
        conn.execute(
            "INSERT INTO notes SELECT printf('kol%05d', k), printf('n%05d%04d', k, i), 'title ' || i, "
            "current_date - (i * 3)::INT, i % 3 = 0, i % 4 = 0, NULL, NULL, 1000 + (k * 37 + i * 101) % 9000, "
            "30 + (k + i) % 700, 10 + (k * i) % 300, 0, now(), now(), NULL, 'f', 'default' "
            f"FROM range({kols}) a(k), range(60) b(i)"
        )
        for f in range(3):
            conn.execute(
                "INSERT INTO fetches (fetch_id, user_id, advertise_switch, order_type, note_type, is_third_platform, "
                "is_full, status, started_at, finished_at, notes_returned, pages, pages_reused, calls, retries, "
                "null_metrics, duplicates_dropped) "
                f"SELECT printf('f{f}-%05d', k), printf('kol%05d', k), 'ALL', 'LATEST', 'ALL', 'NO', true, 'complete', "
                f"now() - INTERVAL {3 - f} DAY, now() - INTERVAL {3 - f} DAY, 60, 8, 0, 8, 0, 0, 0 FROM range({kols}) a(k)"
            )
            conn.execute(
                f"INSERT INTO note_snapshots SELECT printf('f{f}-%05d', k), user_id, note_id, now() - INTERVAL {3 - f} DAY, 1, "
                f"read_num * {f + 1} / 3, like_num, collect_num, 0, 'default' FROM notes, range({kols}) a(k) "
                "WHERE user_id = printf('kol%05d', k)"
            )
        refresh_kol_engagement(conn, date.today())
    return db


def main(kols: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = build(Path(tmp), kols)
        started = time.monotonic()
        result = write_report(db, Path(tmp) / "reports")
        seconds = time.monotonic() - started
    record(
        f"HTML report, {kols} KOLs",
        [
            line(
                f"write_report, {kols} KOLs x 60 notes x 3 refreshes",
                f"{seconds:.1f} s",
                "< 60 s",
                seconds < 60,
            ),
            line("KOL pages written", str(len(result.kol_pages)), str(kols), len(result.kol_pages) == kols),
        ],
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
