"""The daily call budget is shared by every thread of every process of an instance."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from pgy_pipeline.warehouse.state import PipelineState, next_quota_reset, quota_day
from pgy_pipeline.warehouse.transaction import sqlite_transaction

BUDGET = 120


def _spend(data_dir: str, attempts: int) -> int:
    state = PipelineState(data_dir)
    with ThreadPoolExecutor(max_workers=6) as pool:
        return sum(pool.map(lambda _: state.try_spend(BUDGET), range(attempts)))


def test_the_budget_is_never_exceeded_by_threads_of_several_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        granted = pool.starmap(_spend, [(str(tmp_path), 100)] * 3)
    assert sum(granted) == BUDGET  # 300 attempts, exactly the budget granted
    assert PipelineState(tmp_path).spent() == BUDGET


def test_the_budget_day_is_the_china_day():
    late_utc = datetime(2026, 11, 26, 17, 30, tzinfo=UTC)  # 01:30 on the 27th in Shanghai
    assert quota_day(late_utc).isoformat() == "2026-11-27"
    assert next_quota_reset(late_utc) == datetime(2026, 11, 27, 16, 0, tzinfo=UTC)


def test_a_quota_stop_expires_at_the_reset(tmp_path):
    state = PipelineState(tmp_path)
    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    state.set_stop("quota", next_quota_reset(now), "daily quota exceeded (code 303)")
    assert state.active_stop(now) is not None
    assert state.active_stop(next_quota_reset(now) + timedelta(seconds=1)) is None


def test_a_new_state_file_waits_for_another_writer_instead_of_failing(tmp_path):
    # Two processes starting on a new file: one already writes (rollback journal, write lock
    # held) while the other switches the file to WAL. SQLite refuses that switch at once,
    # without waiting; the transaction must wait for the lock like any other statement.
    path = tmp_path / "state.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE other (a)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO other VALUES (1)")
    release = threading.Timer(0.2, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        with sqlite_transaction(path, "CREATE TABLE IF NOT EXISTS t (a);") as conn:
            conn.execute("INSERT INTO t VALUES (1)")
    finally:
        release.join()
        holder.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert check.execute("SELECT count(*) FROM t").fetchone() == (1,)


def _spend_mixed(data_dir: str, attempts: int) -> int:
    """Like a client: reserve before each call; every other granted call answers unbilled (a 301)."""
    state = PipelineState(data_dir)
    billed = 0
    for i in range(attempts):
        if state.reserve(BUDGET) is not None:
            continue
        if i % 2:
            state.settle_unbilled()
        else:
            billed += 1
    return billed


def test_billed_calls_never_exceed_the_budget_whatever_the_calls_answer(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        billed = pool.starmap(_spend_mixed, [(str(tmp_path), 100)] * 3)
    state = PipelineState(tmp_path)
    # 300 calls, half of them unbilled: the unbilled ones gave their reservation back, so exactly the
    # budget was billed, no more.
    assert sum(billed) == state.spent() == BUDGET
    assert state.unbilled() >= 60


def test_an_unbilled_answer_gives_its_reservation_back(tmp_path):
    state = PipelineState(tmp_path)
    assert state.reserve(1) is None and state.reserve(1) == "budget"
    state.settle_unbilled()
    assert (state.spent(), state.unbilled()) == (0, 1)
    assert state.reserve(1) is None


def test_unbilled_calls_stop_at_their_own_limit(tmp_path):
    state = PipelineState(tmp_path)
    for _ in range(3):
        assert state.reserve(None, 3) is None
        state.settle_unbilled()
    assert state.reserve(None, 3) == "unbilled" and state.spent() == 0
