"""A real S3-compatible server for the tests: moto's, started on a loopback port.

Real HTTP all the way (obstore for the raw pages, DuckDB's httpfs for the lake's Parquet files):
nothing mocks a client. Buckets are made with a plain HTTP PUT, as any S3 client would.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests

from pgy_pipeline.s3 import S3Config
from pgy_pipeline_tests.simulator_process import free_port

# moto accepts any credentials; these are what the tests sign with.
KEY_ID, SECRET = "pgy-test-key", "pgy-test-secret-7f3a"


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """Start ``moto_server`` on 127.0.0.1; yields its endpoint ``http://127.0.0.1:PORT``."""
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(endpoint, timeout=(1, 20))  # its first answer imports a lot: be patient
                break
            except (requests.ConnectionError, requests.Timeout):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.05)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)


def make_bucket(endpoint: str, name: str | None = None) -> str:
    name = name or f"pgy-{uuid.uuid4().hex[:10]}"
    requests.put(f"{endpoint}/{name}", timeout=10).raise_for_status()
    return name


def config(endpoint: str) -> S3Config:
    return S3Config(endpoint=endpoint, key_id=KEY_ID, secret=SECRET)


def env(endpoint: str) -> dict[str, str]:
    """The settings that point a process at this server (settings.s3_config reads them)."""
    return {"PGY_S3_ENDPOINT": endpoint, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
