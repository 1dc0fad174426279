"""The daily budget reserved in blocks (state_budget.py), on SQLite and PostgreSQL state."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

import pytest

from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline.warehouse.state_budget import BudgetBlocks
from pgy_pipeline_tests import pg_server
from pgy_pipeline_tests.warehouse import state_worker

NOW = state_worker.DAY


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request) -> str:
    """'' for SQLite state in the test's data dir, else a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return ""
    port = request.getfixturevalue("pg_port")
    return pg_server.pg_url(port, pg_server.create_database(port))


def _state(tmp_path, url: str) -> PipelineState:
    return PipelineState(tmp_path, url=url or None)


def test_calls_are_reserved_a_block_at_a_time_and_the_rest_given_back(tmp_path, state_url):
    state = _state(tmp_path, state_url)
    blocks = BudgetBlocks(state, None, None, block=32)
    assert [blocks.take(NOW) for _ in range(5)] == [None] * 5
    assert state.spent(NOW) == 32  # one transaction reserved the block; 27 calls not yet made
    blocks.release()
    assert state.spent(NOW) == 5  # what was not made is no longer counted


def test_a_block_is_a_small_share_of_what_the_budget_leaves(tmp_path, state_url):
    state = _state(tmp_path, state_url)
    blocks = BudgetBlocks(state, 100, None, block=32)
    assert blocks.take(NOW) is None
    # 100 left: a block of 100 // 16 = 6, so a process dying now leaves at most 6 counted today.
    assert state.spent(NOW) == 6
    near = BudgetBlocks(state, 10, None, block=32)
    state.give_back(6, NOW.date().isoformat())
    assert [near.take(NOW) for _ in range(11)] == [None] * 10 + ["budget"]  # one by one near it
    assert state.spent(NOW) == 10


def test_blocks_never_bill_past_the_budget_across_processes(tmp_path, state_url):
    ctx = multiprocessing.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Event()
    # SQLite: the processes share one data dir; PostgreSQL: each has its own, as hosts do.
    dirs = [tmp_path / (f"host{i}" if state_url else "shared") for i in range(4)]
    procs = [
        ctx.Process(target=state_worker.take_in_blocks, args=(str(d), state_url, 50, 40, start, queue))
        for d in dirs
    ]
    for p in procs:
        p.start()
    start.set()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(10)
    billed, given_back = sum(b for b, _ in results), sum(g for _, g in results)
    state = _state(tmp_path / "shared", state_url)
    # 160 tries, every third answered unbilled: never more than the budget billed, and once every
    # process gave its unused calls back the ledger counts exactly the calls billed.
    assert 0 < billed <= 50
    assert (state.spent(NOW), state.unbilled(NOW)) == (billed, given_back)


def test_unbilled_answers_stop_the_process_at_the_limit_with_calls_left_in_its_block(tmp_path):
    state = PipelineState(tmp_path)
    blocks = BudgetBlocks(state, None, 3, block=32)
    for _ in range(3):
        assert blocks.take(NOW) is None
        blocks.settle_unbilled(NOW)
    assert blocks.take(NOW) == "unbilled"
    # Another process sees the limit at its first block.
    assert BudgetBlocks(state, None, 3).take(NOW) == "unbilled"


def test_a_block_never_crosses_the_china_midnight(tmp_path):
    state = PipelineState(tmp_path)
    blocks = BudgetBlocks(state, None, None, block=32)
    assert blocks.take(NOW) is None
    tomorrow = NOW + timedelta(days=1)
    assert blocks.take(tomorrow) is None
    # The rest of yesterday's block went back; today's call took a block of today.
    assert (state.spent(NOW), state.spent(tomorrow)) == (1, 32)
