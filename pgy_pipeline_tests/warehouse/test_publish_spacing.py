"""A publish copies the whole file: a big warehouse is published less often, never most of the time."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse import db as warehouse_db
from pgy_pipeline.warehouse.db import PUBLISH_SPACING, publish_due

COPY_S = 0.03  # each publish's copy is made to take this long, as a big file's would


@pytest.mark.parametrize(
    ("since_last", "last_took", "interval_s", "due"),
    [
        (2.0, 0.07, 2.0, True),  # a new warehouse: the interval decides
        (1.9, 0.07, 2.0, False),
        (10.0, 1.45, 2.0, False),  # a year-old one (606 MiB in 1.45 s): ten times that
        (14.5, 1.45, 2.0, True),
        (0.0, 5.0, 0.0, True),  # an interval of 0: every write publishes, whatever it costs
    ],
)
def test_the_next_publish_waits_for_the_interval_and_ten_times_the_last_ones_duration(
    since_last: float, last_took: float, interval_s: float, due: bool
) -> None:
    assert PUBLISH_SPACING == 10
    assert publish_due(since_last, last_took, interval_s) is due


def _snapshot(wh: Warehouse) -> list[int]:
    with wh.connect_snapshot() as conn:
        return [r[0] for r in conn.execute("SELECT n FROM t ORDER BY n").fetchall()]


@pytest.fixture
def slow_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    copy = shutil.copyfile

    def slow(src: str, dst: str) -> str:
        time.sleep(COPY_S)
        return copy(src, dst)

    monkeypatch.setattr(warehouse_db.shutil, "copyfile", slow)


@pytest.mark.usefixtures("slow_copies")
def test_a_slow_publish_spaces_out_the_next_ones_and_the_run_still_ends_published(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path, publish_interval_s=0.01)
    with wh.write(publish=True) as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
    time.sleep(0.05)  # past the interval, well short of ten times the copy
    with wh.write() as conn:
        conn.execute("INSERT INTO t VALUES (2)")
    assert _snapshot(wh) == [1]  # not copied again so soon
    # Past ten times what the last publish took: at least COPY_S, more on a loaded machine.
    time.sleep(PUBLISH_SPACING * max(COPY_S, wh._publish_took) + 0.05)
    with wh.write() as conn:
        conn.execute("INSERT INTO t VALUES (3)")
    assert _snapshot(wh) == [1, 2, 3]
    with wh.write() as conn:
        conn.execute("INSERT INTO t VALUES (4)")
    wh.publish_if_dirty()  # what a run does at its end: the snapshot is exact
    assert _snapshot(wh) == [1, 2, 3, 4]


@pytest.mark.usefixtures("slow_copies")
def test_an_interval_of_zero_publishes_after_every_write_however_slow(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path, publish_interval_s=0.0)
    with wh.write() as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
    with wh.write() as conn:
        conn.execute("INSERT INTO t VALUES (2)")
    assert _snapshot(wh) == [1, 2]
