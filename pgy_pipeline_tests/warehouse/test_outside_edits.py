"""Someone writes to the published snapshot: the pipeline keeps their file instead of replacing it.

`pgy.duckdb` is the pipeline's to replace after every batch of writes. An analyst who opens it
read-write anyway (root ignores its read-only mode) must not lose their tables silently: the
file they wrote is kept under `edited/`, with a warning naming it, and readers get the fresh
snapshot. Readers and the pipeline's own publishes are no evidence of a writer.
"""

from __future__ import annotations

import contextlib
import logging
import stat
import subprocess
import sys
from collections.abc import Iterator

import duckdb
import pytest

from pgy_pipeline.warehouse import Warehouse


def _publish(wh: Warehouse, marker: int) -> None:
    with wh.write(publish=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS pipeline_marker (n INTEGER)")
        conn.execute("INSERT INTO pipeline_marker VALUES (?)", [marker])


def _tables(path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def _markers(path) -> list[int]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return [r[0] for r in conn.execute("SELECT n FROM pipeline_marker ORDER BY n").fetchall()]


_ANALYST = """
import sys, duckdb
conn = duckdb.connect(sys.argv[1])  # read-write, as many SQL clients open a file
print("open", flush=True)
for line in sys.stdin:
    if line.strip() == "close":
        break
    conn.execute(line)
    print("done", flush=True)
conn.close()
print("closed", flush=True)
"""


class Analyst:
    """Another process holding a read-write DuckDB connection (a lock held in this process would
    be dropped by any close of the same file here: POSIX record locks are per process)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def _say(self, line: str, answer: str) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == answer

    def execute(self, sql: str) -> None:
        self._say(sql, "done")

    def close(self) -> None:
        self._say("close", "closed")
        self.proc.wait(timeout=30)


@contextlib.contextmanager
def analyst(path) -> Iterator[Analyst]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _ANALYST, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout and proc.stdout.readline().strip() == "open"
        yield Analyst(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def wh(tmp_path) -> Warehouse:
    wh = Warehouse(tmp_path / "data")
    _publish(wh, 1)
    return wh


def test_the_snapshot_is_published_read_only(wh):
    assert stat.S_IMODE(wh.published_path.stat().st_mode) == 0o444
    _publish(wh, 2)  # replacing a read-only snapshot works, and the new one is read-only too
    assert stat.S_IMODE(wh.published_path.stat().st_mode) == 0o444
    assert _markers(wh.published_path) == [1, 2]


def test_readers_and_the_pipelines_own_publishes_keep_nothing(wh):
    reader = duckdb.connect(str(wh.published_path), read_only=True)
    try:
        for n in range(2, 5):
            _publish(wh, n)
    finally:
        reader.close()
    with wh.connect_snapshot() as conn:
        conn.execute("SELECT count(*) FROM pipeline_marker").fetchone()
    _publish(wh, 5)
    assert wh.kept_edits == []
    assert not wh.edited_dir.exists()
    assert _markers(wh.published_path) == [1, 2, 3, 4, 5]


def test_a_table_written_to_the_snapshot_is_kept_and_the_fresh_snapshot_published(wh, caplog):
    with duckdb.connect(str(wh.published_path)) as analyst:  # read-write: root may
        analyst.execute("CREATE TABLE my_shortlist AS SELECT 'kol_a' AS user_id")
    with caplog.at_level(logging.WARNING, logger="pgy_pipeline.warehouse.db"):
        _publish(wh, 2)
    [edit] = wh.kept_edits
    kept = edit.path
    assert kept.parent == wh.edited_dir and "changed after the pipeline published it" in edit.why
    assert "my_shortlist" in _tables(kept) and _markers(kept) == [1]
    assert "my_shortlist" not in _tables(wh.published_path) and _markers(wh.published_path) == [1, 2]
    assert str(kept) in caplog.text and "written outside the pipeline" in caplog.text
    _publish(wh, 3)  # the fresh snapshot is the pipeline's again: nothing more kept
    assert wh.kept_edits == [edit]


def test_writes_of_a_connection_open_across_a_publish_land_in_the_kept_file(wh):
    analyst = duckdb.connect(str(wh.published_path))
    try:
        analyst.execute("CREATE TABLE mine (x INTEGER)")
        analyst.execute("INSERT INTO mine VALUES (1)")  # in its write-ahead log, not yet in the file
        _publish(wh, 2)
        analyst.execute("INSERT INTO mine VALUES (2)")  # after the publish
    finally:
        analyst.close()
    [edit] = wh.kept_edits
    assert "write-ahead log" in edit.why
    with duckdb.connect(str(edit.path), read_only=True) as conn:
        assert conn.execute("SELECT list(x ORDER BY x) FROM mine").fetchone() == ([1, 2],)
    assert _markers(wh.published_path) == [1, 2] and "mine" not in _tables(wh.published_path)


def test_a_connection_open_for_writing_is_evidence_before_it_writes(wh):
    with analyst(wh.published_path) as other:
        _publish(wh, 2)  # nothing written yet, but its write lock is held
        other.execute("CREATE TABLE later AS SELECT 42 AS answer")
        other.close()
    [edit] = wh.kept_edits
    assert "open for writing" in edit.why and "later" in _tables(edit.path)
    assert _markers(wh.published_path) == [1, 2]
    _publish(wh, 3)  # written after all: the copy stays
    assert edit.path.exists() and "later" in _tables(edit.path)


def test_a_copy_kept_for_a_writer_that_never_wrote_is_dropped_once_it_has_gone(wh):
    with analyst(wh.published_path) as idle:  # e.g. a SQL client that opens files read-write
        _publish(wh, 2)
        [edit] = wh.kept_edits
        _publish(wh, 3)  # still open: it may yet write
        assert edit.path.exists()
        idle.execute("SELECT count(*) FROM pipeline_marker")
        idle.close()
    _publish(wh, 4)
    assert list(wh.edited_dir.iterdir()) == []
    assert _markers(wh.published_path) == [1, 2, 3, 4]
