"""Two run workers on two 'hosts' against one API: do they share the rate and the budget?

Usage: python -m bench.two_workers [N]   (N KOLs, default 100, split in two disjoint halves)

The deployment of test_multi_worker.py, measured: PostgreSQL (lake catalog, state) and an
S3-compatible server (moto: lake files, raw pages) on loopback, the realistic simulator at 20
requests/s in its own process. Each worker is a process with its own data dir and Dagster home,
refreshing its half with `pgy refresh`'s code path and rate_limit_per_s = 10 (the token's 20
shared by the `justoneapi` pool's 2 slots). Figures: wall of the pair / floor (all calls / 20
per second), calls against the shared daily budget.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import line, record, sim_counters, simulator_process

RATE, SEED = 20.0, 3
WORKER = """
import sys
from pgy_pipeline.cli import runner
from pgy_pipeline.defs.definitions import build_defs
from pgy_pipeline.defs.resources import JustOneApiResource
kols = sys.argv[1].split(",")
defs = build_defs(JustOneApiResource(rate_limit_per_s=10.0))
instance = runner.get_instance()
runner.add_partitions(instance, kols)
runs = runner.refresh(defs, instance, kols)
sys.exit(0 if all(r.success for r in runs) else 1)
"""


def main() -> None:
    from pgy_pipeline.warehouse.lake import LakeConfig, connect_lake
    from pgy_pipeline.warehouse.state import PipelineState
    from pgy_pipeline_tests import pg_server, s3_server

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    kols = [f"kol{i:05d}" for i in range(n)]
    base = Path(tempfile.mkdtemp(prefix="pgy-2w-"))
    with (
        pg_server.postgres_server() as port,
        s3_server.s3_server() as s3,
        simulator_process("realistic", SEED) as url,
    ):
        db, bucket = pg_server.create_database(port), s3_server.make_bucket(s3)
        lake = f"ducklake:postgres:{pg_server.pg_conninfo(port, db)}"
        budget = 10 * n * 30
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PGY_", "JUSTONEAPI_"))} | {
            "JUSTONEAPI_BASE_URL": url,
            "PGY_WAREHOUSE_URL": lake,
            "PGY_LAKE_DATA_PATH": f"s3://{bucket}/lake/",
            "PGY_RAW_URL": f"s3://{bucket}/raw",
            "PGY_STATE_URL": pg_server.pg_url(port, db),
            "PGY_DAILY_CALL_BUDGET": str(budget),
            **s3_server.env(s3),
        }
        halves = [kols[: n // 2], kols[n // 2 :]]
        t0 = time.perf_counter()
        procs = []
        for i, half in enumerate(halves):
            host = base / f"host{i}"
            host.mkdir()
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, ",".join(half)],
                    env=env | {"PGY_DATA_DIR": str(host), "DAGSTER_HOME": str(host / "dagster_home")},
                    cwd=host,
                )
            )
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - t0
        calls = sim_counters(url)["calls_total"]
        spent = PipelineState(base, url=env["PGY_STATE_URL"]).spent()
        cfg = LakeConfig(lake.removeprefix("ducklake:"), env["PGY_LAKE_DATA_PATH"], s3_server.config(s3))
        with connect_lake(cfg, read_only=True) as conn:
            ledger = conn.execute("SELECT count(*) FROM api_calls").fetchone()[0]
            notes = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
    floor = calls / RATE
    record(
        f"Two workers, one API ({n} KOLs in two halves, lake on PostgreSQL + S3, state on PostgreSQL)",
        [
            line("both workers succeeded", str(codes == [0, 0]), "True", codes == [0, 0]),
            line("calls answered (simulator)", str(calls), "-", None),
            line(
                "calls in the shared ledger (state) / api_calls rows",
                f"{spent} / {ledger}",
                "= calls",
                spent == ledger == calls,
            ),
            line("calls against the daily budget", f"{spent} of {budget}", "<= budget", spent <= budget),
            line(
                "wall of the pair / floor (calls / 20 per s)", f"{wall / floor:.3f} ({wall:.0f} s)", "-", None
            ),
            line("notes stored", str(notes), "-", None),
        ],
        "Each worker: its own process, data dir and Dagster home; rate_limit_per_s 10 (20 shared by 2 slots).",
    )


if __name__ == "__main__":
    main()
