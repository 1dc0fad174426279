"""Raw pages in an S3-compatible bucket (PGY_RAW_URL), against a real server on loopback (moto):
one object per page, sealing, resume after a crash, replay and the token scan, as on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import obstore
import pytest

from pgy_pipeline.refresh import KolStatus, Refresher, landing
from pgy_pipeline.refresh.parts import ConfigClient, RefreshSettings, Stores
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.raw_bucket import BucketRawStore
from pgy_pipeline.warehouse.replay import replay_all
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests import s3_server
from pgy_pipeline_tests.justoneapi.helpers import TOKEN, fast_config
from pgy_pipeline_tests.support import ANCHOR, expected_frame, stored_frame

KOLS = ["5a1b2c3d4e5f60718293a4b5", "5a1b2c3d4e5f60718293a4b6", "5a1b2c3d4e5f60718293a4b7"]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(
        "clean", seed=7, anchor_date=ANCHOR, fixed_counts={KOLS[0]: 30, KOLS[1]: 9, KOLS[2]: 0}
    ) as s:
        yield s


@pytest.fixture
def bucket(s3_endpoint: str) -> BucketRawStore:
    name = s3_server.make_bucket(s3_endpoint)
    return BucketRawStore(f"s3://{name}/team/raw", s3_server.config(s3_endpoint))


def refresher(sim: Simulator, data: Path, raw: BucketRawStore, **how: Any) -> Refresher:
    stores = Stores(Warehouse(data, publish_interval_s=0.0), raw, PipelineState(data))
    return Refresher(
        ConfigClient(fast_config(sim.base_url)), stores, RefreshSettings(kol_workers=2, **how), "run-s3"
    )


def _objects(raw: BucketRawStore) -> dict[str, bytes]:
    return {k: bytes(obstore.get(raw._store, k).bytes()) for k in raw._keys("")}


def test_each_page_is_one_object_and_each_fetch_is_sealed(sim, tmp_path, bucket):
    outcomes = refresher(sim, tmp_path, bucket).refresh(KOLS)
    assert [o.status for o in outcomes] == [KolStatus.OK] * 3
    keys = set(_objects(bucket))
    for o in outcomes:
        assert f"{o.user_id}/{o.fetch_id}.meta.json" in keys and f"{o.user_id}/{o.fetch_id}.done.json" in keys
        pages = sorted(k for k in keys if k.startswith(f"{o.user_id}/{o.fetch_id}/"))
        assert pages == [f"{o.user_id}/{o.fetch_id}/p{n:05d}.jsonl" for n in range(1, o.pages + 1)]
    assert outcomes[0].pages == 4  # 30 notes, 8 a page
    assert bucket.holds_data() and sorted(bucket.iter_done_fetches()) == sorted(
        (o.user_id, o.fetch_id) for o in outcomes
    )
    assert not (tmp_path / "raw").exists()  # nothing on the worker's disk
    with Warehouse(tmp_path).connect_snapshot() as conn:
        for user in KOLS:
            assert stored_frame(conn, user) == expected_frame(sim, user)
    # The token never reaches the bucket (requests are stored without it).
    assert not [k for k, body in _objects(bucket).items() if TOKEN.encode() in body]


def test_a_crash_before_the_seal_resumes_from_the_bucket_and_buys_nothing_twice(
    sim, tmp_path, bucket, monkeypatch
):
    real = landing.write_fetches
    monkeypatch.setattr(landing, "write_fetches", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    first = refresher(sim, tmp_path, bucket).refresh(KOLS[:1])
    assert first[0].status == KolStatus.FAILED and list(bucket.iter_done_fetches()) == []
    paid = sim.counters().calls_total
    monkeypatch.setattr(landing, "write_fetches", real)
    # Another worker, another disk: only the bucket is shared.
    other = BucketRawStore(bucket.url, s3_server.config(bucket._store.config["endpoint"]))
    second = refresher(sim, tmp_path / "other", other, fresh_for=timedelta(hours=1)).refresh(KOLS[:1])
    assert second[0].status == KolStatus.OK and second[0].pages_reused == second[0].pages == 4
    assert sim.counters().calls_total == paid
    third = refresher(sim, tmp_path / "third", other, fresh_for=timedelta(hours=1)).refresh(KOLS[:1])
    assert third[0].status == KolStatus.SKIPPED  # sealed in the bucket: fresh for every worker


def test_a_replay_from_the_bucket_rebuilds_the_warehouse_row_for_row(sim, tmp_path, bucket):
    refresher(sim, tmp_path / "live", bucket).refresh(KOLS)
    refresher(sim, tmp_path / "live", bucket).refresh(KOLS[:2])
    with Warehouse(tmp_path / "rebuilt", publish_interval_s=0).write(publish=True) as conn:
        stats = replay_all(conn, bucket)
    assert stats.fetches == 5
    tables = {
        "notes": "SELECT * EXCLUDE (last_fetch_id) FROM notes ORDER BY user_id, note_id",
        "note_snapshots": "SELECT * FROM note_snapshots ORDER BY fetch_id, note_id",
        "fetches": "SELECT * EXCLUDE (calls, retries) FROM fetches ORDER BY fetch_id",
    }
    with (
        Warehouse(tmp_path / "live").connect_snapshot() as live,
        Warehouse(tmp_path / "rebuilt").connect_snapshot() as rebuilt,
    ):
        for sql in tables.values():
            assert live.execute(sql).fetchall() == rebuilt.execute(sql).fetchall()


def test_a_drifted_fetch_stays_unsealed_in_the_bucket_and_a_replay_reads_it_after_an_upgrade(
    sim, tmp_path, bucket, monkeypatch
):
    user = KOLS[1]
    assert refresher(sim, tmp_path, bucket).refresh([user])[0].status == KolStatus.OK
    sim.update(date_format="epoch_ms")  # the vendor changes the shape of its dates
    (drifted,) = refresher(sim, tmp_path, bucket).refresh([user])
    assert (drifted.status, drifted.error_kind) == (KolStatus.FAILED, "schema")
    keys = set(_objects(bucket))
    # Its pages kept, its row recorded as failed, and never sealed as done (as on disk: test_drift.py).
    assert f"{user}/{drifted.fetch_id}/p00001.jsonl" in keys
    assert f"{user}/{drifted.fetch_id}.done.json" not in keys
    row = json.loads(_objects(bucket)[f"{user}/{drifted.fetch_id}.failed.json"])
    assert (row["status"], row["error_kind"]) == ("failed", "schema")

    def rebuilt(name: str) -> Any:
        with Warehouse(tmp_path / name, publish_interval_s=0).write(publish=True) as conn:
            replay_all(conn, bucket)
        with Warehouse(tmp_path / name).connect_snapshot() as conn:
            return conn.execute(
                "SELECT status, error_kind, notes_returned FROM fetches WHERE fetch_id = ?",
                [drifted.fetch_id],
            ).fetchone(), conn.execute(
                "SELECT count(*) FROM note_snapshots WHERE fetch_id = ?", [drifted.fetch_id]
            ).fetchone()

    assert rebuilt("before") == (("failed", "schema", 0), (0,))  # the code cannot read it yet
    # An upgrade that reads the new shape (here: one that takes it as it is), then `pgy replay`.
    monkeypatch.setattr("pgy_pipeline.justoneapi.envelope.judge_page", lambda counts: None)
    assert rebuilt("after") == (("incomplete", "schema", 8), (8,))
