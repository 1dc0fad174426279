"""The lake as a cluster has it: the catalog in PostgreSQL, the Parquet files in an S3-compatible
bucket (both real servers on loopback). Writers on several hosts queue on the catalog's lock."""

from __future__ import annotations

import multiprocessing

import pytest
from click.testing import CliRunner

from pgy_pipeline.cli import main
from pgy_pipeline.warehouse.lake import LakeConfig, LakeWarehouse
from pgy_pipeline.warehouse.lake_schema import duplicate_keys
from pgy_pipeline_tests import pg_server, s3_server
from pgy_pipeline_tests.support import MakeEnv, expected_frame, stored_frame
from pgy_pipeline_tests.warehouse import lake_worker


@pytest.fixture
def lake(pg_port, s3_endpoint, monkeypatch) -> LakeConfig:
    db, bucket = pg_server.create_database(pg_port), s3_server.make_bucket(s3_endpoint)
    url = f"ducklake:postgres:{pg_server.pg_conninfo(pg_port, db)}"
    for key, value in {
        "PGY_WAREHOUSE_URL": url,
        "PGY_LAKE_DATA_PATH": f"s3://{bucket}/lake/",
        **s3_server.env(s3_endpoint),
    }.items():
        monkeypatch.setenv(key, value)
    return LakeConfig(url.removeprefix("ducklake:"), f"s3://{bucket}/lake/", s3_server.config(s3_endpoint))


def test_a_refresh_fills_a_lake_on_postgres_and_s3_and_pgy_query_reads_it(
    lake, make_env: MakeEnv, monkeypatch
):
    env = make_env(fixed_counts={"kol_a": 20, "kol_b": 9})
    assert all(s.success for s in env.refresh(["kol_a", "kol_b"]))
    with env.db() as conn:
        for kol in ("kol_a", "kol_b"):
            assert stored_frame(conn, kol) == expected_frame(env.sim, kol)
        assert duplicate_keys(conn) == {}
    monkeypatch.setenv("PGY_DATA_DIR", str(env.data_dir))
    # count(DISTINCT ...) reads the Parquet files in the bucket; count(*) alone reads the catalog.
    ok = CliRunner().invoke(
        main, ["query", "SELECT count(DISTINCT note_id) AS n FROM notes", "--format", "csv"]
    )
    assert ok.exit_code == 0 and ok.output == "n\n29\n", ok.output
    attach = f"ATTACH 'ducklake:{lake.catalog}' AS w (DATA_PATH '{lake.data_path}'); DROP TABLE w.notes"
    refused = CliRunner().invoke(main, ["query", attach])
    assert refused.exit_code == 1 and "only reads" in refused.output
    assert CliRunner().invoke(main, ["query", "SELECT count(*) FROM notes"]).exit_code == 0


def test_writers_on_several_hosts_queue_instead_of_conflicting(lake):
    with LakeWarehouse(lake).write() as conn:
        conn.execute("INSERT INTO kols (user_id, label, added_at) VALUES ('shared', '', now())")
    ctx = multiprocessing.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=lake_worker.write, args=(lake, w, 6, start, queue)) for w in range(3)]
    for p in procs:
        p.start()
    start.set()
    errors = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(10)
    assert errors == [[], [], []]  # without the writer lock DuckLake answers "Transaction conflict"
    with LakeWarehouse(lake).connect_snapshot() as conn:
        assert conn.execute("SELECT label FROM kols WHERE user_id = 'shared'").fetchone() == ("+" * 18,)
        assert conn.execute("SELECT count(*) FROM kols").fetchone() == (19,)


def test_the_upkeep_of_a_lake_on_postgres_and_s3_deletes_objects_and_keeps_every_row(
    lake, make_env: MakeEnv, monkeypatch
):
    env = make_env(fixed_counts={"kol_a": 20, "kol_b": 9})
    for _ in range(2):
        assert all(s.success for s in env.refresh(["kol_a", "kol_b"], {"force": True}))
    monkeypatch.setenv("PGY_DATA_DIR", str(env.data_dir))

    def objects_and_rows() -> tuple[list[str], list[tuple[object, ...]]]:
        with env.db() as conn:
            files = [
                r[0]
                for r in conn.execute(f"SELECT file FROM glob('{lake.data_path}**/*.parquet')").fetchall()
            ]
            notes = conn.execute("SELECT * FROM notes ORDER BY ALL").fetchall()
        return files, notes

    objects, notes = objects_and_rows()
    tables = {f.rsplit("/", 1)[0] for f in objects}  # a folder a table
    assert len(objects) > len(tables)  # some table has several files to merge
    for _ in range(2):  # the second deletes what the first freed
        done = CliRunner().invoke(main, ["warehouse", "upkeep", "--keep-days", "0", "--grace-hours", "0"])
        assert done.exit_code == 0 and "DuckLake (postgres catalog" in done.output, done.output
    after, notes_after = objects_and_rows()
    assert notes_after == notes and len(notes) == 29
    # Every table's files merged into one object at most, the others deleted from the bucket.
    assert after and len(after) <= len(tables) < len(objects), (objects, after)
    assert len({f.rsplit("/", 1)[0] for f in after}) == len(after)
