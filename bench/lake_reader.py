"""An analyst in another process, for bench/lake_bench.py: polls the warehouse until a marker shows.

Usage: python bench/lake_reader.py MARKER  (prints "ready", then the wall-clock time it saw MARKER).
The warehouse is the one the environment configures (PGY_WAREHOUSE_URL, else PGY_DATA_DIR's file),
opened afresh at each poll, as a reader that wants the latest data does.
"""

from __future__ import annotations

import sys
import time

from pgy_pipeline.warehouse.backends import open_warehouse
from pgy_pipeline.warehouse.lake import LakeWarehouse


def main() -> None:
    marker = sys.argv[1]
    wh = open_warehouse()
    # A lake reader keeps its connection (each query sees the latest commit); a reader of the
    # file must open it again to see a newer snapshot.
    keep = wh.connect_snapshot() if isinstance(wh, LakeWarehouse) else None
    sql = "SELECT count(*) FROM kols WHERE label = ?"
    (keep or wh.connect_snapshot()).execute(sql, [marker]).fetchone()
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = keep or wh.connect_snapshot()
            seen = conn.execute(sql, [marker]).fetchone()[0]
            if keep is None:
                conn.close()
            if seen:
                print(time.time(), flush=True)
                return
        except Exception:  # a file replaced under us: try again
            pass
        time.sleep(0.005)
    print("nan", flush=True)


if __name__ == "__main__":
    main()
