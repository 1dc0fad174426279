"""The pipeline's state on PostgreSQL (PGY_STATE_URL): the same code and guarantees as on SQLite,
across processes that share no disk (each has its own data dir, as run workers on other hosts)."""

from __future__ import annotations

import dataclasses
import multiprocessing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pgy_pipeline.warehouse.state import PipelineState, SourceMismatch
from pgy_pipeline_tests import pg_server
from pgy_pipeline_tests.support import MakeEnv, expected_frame, stored_frame
from pgy_pipeline_tests.warehouse import state_worker

NOW = state_worker.DAY


@pytest.fixture(params=["sqlite", "postgres"])
def make_state(request, tmp_path):
    """PipelineState for a 'host' (its own data dir) on either backend."""
    url = None
    if request.param == "postgres":
        port = request.getfixturevalue("pg_port")
        url = pg_server.pg_url(port, pg_server.create_database(port))

    def make(host: str = "a") -> PipelineState:
        return PipelineState(tmp_path / host, url=url)

    return make


def test_the_same_state_semantics_on_both_backends(make_state):
    a, b = make_state("a"), make_state("b")
    assert [a.try_spend(3, NOW) for _ in range(4)] == [True, True, True, False]
    assert b.spent(NOW) == (3 if a.url else 0)  # one ledger for every host, on PostgreSQL
    a.set_stop("quota", NOW + timedelta(hours=2), "daily quota exceeded (code 303)")
    a.set_stop("quota", NOW + timedelta(hours=3), "daily quota exceeded (code 303)")  # replaced, not doubled
    assert a.quota_stop_until(NOW) == NOW + timedelta(hours=3)
    first = a.record_failure(
        "kol_x",
        code=301,
        error_kind="retry",
        failed_pages="2:301",
        message="m",
        run_id="r1",
        retryable=True,
        cooldown_s=60,
        max_attempts=3,
        now=NOW,
    )
    again = a.record_failure(
        "kol_x",
        code=301,
        error_kind="retry",
        failed_pages="2:301",
        message="m",
        run_id="r2",
        retryable=True,
        cooldown_s=60,
        max_attempts=3,
        now=NOW + timedelta(minutes=5),
    )
    assert (first.attempts, again.attempts) == (1, 2) and again.next_retry_at == NOW + timedelta(minutes=7)
    assert [f.user_id for f in a.due_retries(NOW + timedelta(hours=1))] == ["kol_x"]
    a.mark_one_off(["kol_y", "kol_y"])
    assert a.one_off() == {"kol_y"}
    a.claim_source("simulator", holds_data=False, simulated=True)
    with pytest.raises(SourceMismatch, match="holds data from simulator"):
        a.claim_source("justoneapi", holds_data=True, simulated=False)


def test_the_budget_holds_across_processes_that_share_no_disk(pg_port, tmp_path):
    url = pg_server.pg_url(pg_port, pg_server.create_database(pg_port))
    ctx = multiprocessing.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=state_worker.spend, args=(str(tmp_path / f"host{i}"), url, 50, 30, start, queue))
        for i in range(4)
    ]
    for p in procs:
        p.start()
    start.set()
    granted = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(10)
    assert sum(granted) == 50  # 120 tries, 50 granted, not one more
    assert PipelineState(tmp_path / "elsewhere", url=url).spent(NOW) == 50


def _fail(state: PipelineState, at: datetime, user_id: str = "kol_x") -> Any:
    return state.record_failure(
        user_id,
        code=301,
        error_kind="retry",
        failed_pages="1:301",
        message="m",
        run_id="r",
        retryable=True,
        cooldown_s=60,
        max_attempts=3,
        now=at,
    )


def test_billing_no_content_and_failure_episodes_on_both_backends(make_state):
    a, b = make_state("a"), make_state("b")
    assert a.reserve(2, 1, NOW) is None
    a.settle_unbilled(NOW)  # that call answered 301: its reservation given back, counted unbilled
    assert (a.spent(NOW), a.unbilled(NOW)) == (0, 1)
    assert (b.spent(NOW), b.unbilled(NOW)) == ((0, 1) if a.url else (0, 0))  # shared on PostgreSQL
    assert a.reserve(2, 1, NOW) == "unbilled"  # the unbilled limit reached: nothing reserved
    assert [a.reserve(2, None, NOW) for _ in range(3)] == [None, None, "budget"]
    assert (a.spent(NOW), a.unbilled(NOW)) == (2, 1)
    a.mark_no_content("kol_z", NOW, "r1")
    a.mark_no_content("kol_z", NOW + timedelta(hours=1), "r2")  # replaced, not doubled
    assert a.no_content() == {"kol_z": NOW + timedelta(hours=1)}
    first, again = _fail(a, NOW), _fail(a, NOW + timedelta(minutes=5))
    assert (first.episode, again.episode, again.attempts) == (1, 1, 2)
    a.clear_failure("kol_x")  # recovered; failing again starts episode 2, attempts from 1
    later = _fail(a, NOW + timedelta(hours=1))
    assert (later.episode, later.attempts) == (2, 1)


def test_the_billed_budget_holds_across_processes_whatever_the_calls_answer(pg_port, tmp_path):
    url = pg_server.pg_url(pg_port, pg_server.create_database(pg_port))
    ctx = multiprocessing.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(
            target=state_worker.reserve_and_settle,
            args=(str(tmp_path / f"host{i}"), url, 50, 30, start, queue),
        )
        for i in range(4)
    ]
    for p in procs:
        p.start()
    start.set()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(10)
    # 120 tries, some answered unbilled and given back: billed exactly the budget, not one more.
    assert sum(billed for billed, _ in results) == 50
    state = PipelineState(tmp_path / "elsewhere", url=url)
    assert (state.spent(NOW), state.unbilled(NOW)) == (50, sum(back for _, back in results))


def test_alert_claims_are_atomic_across_hosts(pg_port, tmp_path):
    url = pg_server.pg_url(pg_port, pg_server.create_database(pg_port))
    ctx = multiprocessing.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=state_worker.claim, args=(str(tmp_path / f"host{i}"), url, start, queue))
        for i in range(3)
    ]
    for p in procs:
        p.start()
    start.set()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    assert sorted(map(len, results)) == [0, 0, 1]


def test_one_quota_stop_stops_every_worker(make_env: MakeEnv, pg_port, monkeypatch, tmp_path):
    monkeypatch.setenv("PGY_STATE_URL", pg_server.pg_url(pg_port, pg_server.create_database(pg_port)))
    host_a = make_env(fixed_counts={"kol_a": 30, "kol_b": 12}, user_codes={"kol_a": 303})
    (tmp_path / "host_b").mkdir()
    host_b = dataclasses.replace(host_a, data_dir=tmp_path / "host_b")  # another disk, the same API
    assert not host_a.refresh(["kol_a"])[0].success
    calls = host_a.sim.counters().calls_total
    assert PipelineState(host_b.data_dir).quota_stop_until() is not None
    run_b = host_b.refresh(["kol_b"])[0]
    assert not run_b.success and "quota" in (run_b.failure or "")
    assert host_a.sim.counters().calls_total == calls  # not one call once the quota stop is known
    PipelineState(host_b.data_dir).clear_stop("quota")
    again = host_b.refresh(["kol_b"])[0]
    assert again.success, again.failure
    with host_b.db() as conn:
        assert stored_frame(conn, "kol_b") == expected_frame(host_b.sim, "kol_b")


def test_an_unreachable_state_database_is_named_without_its_password(tmp_path):
    from pgy_pipeline.warehouse.transaction import StateStoreError

    state = PipelineState(tmp_path, url="postgresql://pgy:s3cret-pw@127.0.0.1:9/nowhere")
    with pytest.raises(StateStoreError, match="PGY_STATE_URL") as err:
        state.spent(datetime(2026, 3, 8, tzinfo=UTC))
    assert "s3cret-pw" not in str(err.value)


def test_clear_failures_forgets_the_failures_and_no_content_marks_of_the_kols_named_only(make_state):
    a = make_state("a")
    for user in ("kol_x", "kol_y", "kol_w"):
        _fail(a, NOW, user)
    a.mark_no_content("kol_v", NOW, "r1")
    a.mark_no_content("kol_w", NOW, "r1")
    a.clear_failures(["kol_x", "kol_v", "kol_w"])  # one landed batch
    assert [f.user_id for f in a.failures()] == ["kol_y"]
    assert a.no_content() == {}
    a.clear_failures([])  # nothing landed: nothing to do
    assert [f.user_id for f in a.failures()] == ["kol_y"]
