"""Which warehouse and which raw store a process uses, chosen by settings at run time.

Unset (a laptop, ``make run``, the tests): the DuckDB file and raw pages under the data dir.
``PGY_WAREHOUSE_URL`` puts the warehouse on DuckLake and ``PGY_RAW_URL`` the raw pages in a
bucket; the pipeline's state follows ``PGY_STATE_URL`` (warehouse/state.py reads it).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pgy_pipeline import settings
from pgy_pipeline.warehouse.db import Warehouse
from pgy_pipeline.warehouse.lake import LakeConfig, LakeWarehouse
from pgy_pipeline.warehouse.raw import RawStore

AnyWarehouse = Warehouse | LakeWarehouse

_LAKES: dict[LakeConfig, LakeWarehouse] = {}
_LAKES_GUARD = threading.Lock()


def lake_config(url: str, data_dir: str | os.PathLike[str] | None = None) -> LakeConfig:
    """The lake of ``url`` (``ducklake:postgres:...`` / ``ducklake:sqlite:...``), data where settings say."""
    data_path = settings.lake_data_path(Path(data_dir) if data_dir else None)
    needs_s3 = data_path.startswith("s3://")
    return LakeConfig(url.removeprefix("ducklake:"), data_path, settings.s3_config() if needs_s3 else None)


def open_warehouse(
    data_dir: str | os.PathLike[str] | None = None, publish_interval_s: float = 2.0
) -> AnyWarehouse:
    """The warehouse of this deployment: the DuckDB file under ``data_dir``, or the lake."""
    url = settings.warehouse_url()
    base = data_dir if data_dir is not None else settings.data_dir()
    if url is None:
        return Warehouse(base, publish_interval_s=publish_interval_s)
    cfg = lake_config(url, base)
    # One per lake and process: attaching (catalog, extensions, S3 secret) and checking the
    # schema cost a second or more, and a run asks for the warehouse at every step.
    with _LAKES_GUARD:
        if cfg not in _LAKES:
            _LAKES[cfg] = LakeWarehouse(cfg)
        return _LAKES[cfg]


def open_raw(data_dir: str | os.PathLike[str] | None = None) -> RawStore:
    """The raw page store: ``<data>/raw/`` or the bucket of ``PGY_RAW_URL``."""
    url = settings.raw_url()
    if url is None:
        return RawStore(data_dir if data_dir is not None else settings.data_dir())
    from pgy_pipeline.warehouse.raw_bucket import BucketRawStore

    return BucketRawStore(url, settings.s3_config())
