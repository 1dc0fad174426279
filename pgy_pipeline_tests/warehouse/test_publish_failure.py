"""A publish comes after the commit: its failure never undoes or hides a committed write."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from pgy_pipeline.warehouse import PublishError, Warehouse


def _rows(wh: Warehouse) -> list[int]:
    with wh.read_working() as conn:
        return [r[0] for r in conn.execute("SELECT n FROM t ORDER BY n").fetchall()]


def test_a_failed_publish_is_logged_retried_later_and_the_write_stands(tmp_path: Path, caplog) -> None:
    wh = Warehouse(tmp_path, publish_interval_s=0.0)
    wh.ensure()
    # A directory where the publish writes its temporary copy: the publish fails, as on a full disk.
    (tmp_path / f".pgy.duckdb.{os.getpid()}.tmp" / "in-the-way").mkdir(parents=True)
    with caplog.at_level(logging.WARNING), wh.write() as conn:  # a due publish, not asked for
        conn.execute("CREATE TABLE t (n INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
    assert _rows(wh) == [1]
    assert "pgy.duckdb was not published (IsADirectoryError" in caplog.text
    with (
        pytest.raises(PublishError, match=r"the data is in .*; readers see the last snapshot"),
        wh.write(publish=True) as conn,
    ):
        conn.execute("INSERT INTO t VALUES (2)")
    assert _rows(wh) == [1, 2]  # committed all the same
    with pytest.raises(PublishError):
        wh.publish_if_dirty()
    (tmp_path / f".pgy.duckdb.{os.getpid()}.tmp" / "in-the-way").rmdir()
    (tmp_path / f".pgy.duckdb.{os.getpid()}.tmp").rmdir()
    wh.publish_if_dirty()
    with wh.connect_snapshot() as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
