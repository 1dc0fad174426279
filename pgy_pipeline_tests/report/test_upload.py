"""The report copied to a bucket (PGY_REPORT_URL), for run workers that share no disk: a real
S3-compatible server on loopback (moto), real HTTP through obstore."""

from __future__ import annotations

from typing import Any

import dagster as dg
import obstore

from pgy_pipeline_tests import s3_server
from pgy_pipeline_tests.support import MakeEnv


def _objects(endpoint: str, bucket: str, prefix: str) -> dict[str, Any]:
    store = s3_server.config(endpoint).store(bucket, prefix)
    return {m["path"]: m for chunk in obstore.list(store) for m in chunk}


def _read(endpoint: str, bucket: str, prefix: str, key: str) -> tuple[bytes, str | None]:
    got = obstore.get(s3_server.config(endpoint).store(bucket, prefix), key)
    return bytes(got.bytes()), got.attributes.get("Content-Type")


def test_the_engagement_run_copies_the_report_to_the_bucket_and_drops_pages_it_no_longer_has(
    make_env, monkeypatch, s3_endpoint
):
    bucket = s3_server.make_bucket(s3_endpoint)
    for name, value in s3_server.env(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PGY_REPORT_URL", f"s3://{bucket}/team/reports")
    env = make_env(fixed_counts={"kol_a": 12, "kol_b": 5})
    env.refresh(["kol_a", "kol_b"])
    # A page of an earlier report for a KOL no longer on the roster: this report has none.
    stale = s3_server.config(s3_endpoint).store(bucket, "team/reports")
    obstore.put(stale, "kol/gone_kol.html", b"<html>old</html>")

    assert env.engagement().success

    local = env.data_dir / "reports"
    files = {p.relative_to(local).as_posix(): p for p in local.rglob("*") if p.is_file()}
    stored = _objects(s3_endpoint, bucket, "team/reports")
    assert set(stored) == set(files) and "kol/gone_kol.html" not in stored
    for key, path in files.items():
        body, kind = _read(s3_endpoint, bucket, "team/reports", key)
        assert body == path.read_bytes(), key
        if key.endswith(".html"):
            assert kind == "text/html; charset=utf-8"
    # index.html last: a reader who opens it finds every page it links to.
    assert stored["index.html"]["last_modified"] == max(m["last_modified"] for m in stored.values())
    event = env.instance.get_latest_materialization_event(dg.AssetKey("kol_report"))
    assert event is not None
    meta = event.asset_materialization.metadata
    assert meta["report_url"].value == f"s3://{bucket}/team/reports/index.html"
    assert meta["objects_uploaded"].value == len(files)
    assert s3_server.SECRET not in str(meta) and s3_server.KEY_ID not in str(meta)


def test_a_report_url_that_is_not_a_bucket_is_refused_by_name(make_env: MakeEnv, monkeypatch):
    monkeypatch.setenv("PGY_REPORT_URL", "/mnt/share/reports")
    env = make_env(fixed_counts={"kol_a": 3})
    env.refresh(["kol_a"])
    result = env.engagement()
    assert not result.success
    assert "PGY_REPORT_URL must be an s3://bucket/prefix URL" in (result.failure or "")
