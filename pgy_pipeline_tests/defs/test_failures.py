"""Failed KOLs: partition status, run tags, the retry sensor chain, stops and the budget."""

from __future__ import annotations

import os
import shutil

import dagster as dg

from pgy_pipeline.defs.sensors import kol_retry_sensor
from pgy_pipeline.defs.tags import RunStop
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.support import TEST_TOKEN, MakeEnv, expected_frame, stored_frame

COUNTS = {"ok_kol": 20, "flaky_kol": 30, "denied_kol": 12}


def _retry_tick(env, cursor=None):
    ctx = dg.build_sensor_context(instance=env.instance, cursor=cursor, resources={"pgy": env.pgy})
    return kol_retry_sensor(ctx)


def test_failed_kols_leave_their_partitions_failed_and_the_rest_materialized(make_env: MakeEnv):
    env = make_env(fixed_counts=COUNTS, user_codes={"flaky_kol": 301}, forbidden_users={"denied_kol"})
    runs = env.refresh(list(COUNTS))
    assert len(runs) == 1 and not runs[0].success
    mat, failed = env.partition_status("notes")
    assert mat == {"ok_kol"} and failed == {"flaky_kol", "denied_kol"}
    # The first line says what happened and what to do.
    assert runs[0].failure.startswith("2 of 3 KOL(s) failed: 1 retryable (301 x1)")
    assert "rejected (600 x1)" in runs[0].failure
    assert "flaky_kol:301" in runs[0].tags["pgy/failed_kols"]
    assert runs[0].tags["pgy/retryable_kols"] == "flaky_kol"
    with env.db() as conn:
        assert stored_frame(conn, "ok_kol") == expected_frame(env.sim, "ok_kol")
        assert stored_frame(conn, "flaky_kol") == [] and stored_frame(conn, "denied_kol") == []
        statuses = dict(conn.execute("SELECT user_id, status FROM fetches").fetchall())
        codes = conn.execute("SELECT code, count(*) FROM api_calls GROUP BY code ORDER BY code").fetchall()
    assert statuses == {"ok_kol": "complete", "flaky_kol": "failed", "denied_kol": "failed"}
    assert dict(codes)[301] == 4  # the client's own attempts at page 1 of flaky_kol (max_attempts=4)
    state = PipelineState(env.data_dir)
    flaky, denied = state.failure("flaky_kol"), state.failure("denied_kol")
    assert flaky is not None and not flaky.gave_up and flaky.next_retry_at is not None
    assert denied is not None and denied.gave_up and denied.code == 600


def test_retry_sensor_relaunches_the_301_kol_until_it_succeeds(make_env: MakeEnv):
    env = make_env(
        fixed_counts=COUNTS,
        user_codes={"flaky_kol": 301},
        forbidden_users={"denied_kol"},
        pgy={"retry_cooldown_s": 0.0},
    )
    env.refresh(list(COUNTS))
    result = _retry_tick(env)
    assert isinstance(result, dg.SensorResult)
    requests = result.run_requests or []
    # Exactly the retryable KOL: not the one denied (600), not the one that succeeded.
    assert [r.partition_key for r in requests] == ["flaky_kol"]
    assert requests[0].run_key == "retry:flaky_kol:1:1"  # (KOL, failure episode, attempt)
    again = _retry_tick(env)
    assert [r.run_key for r in again.run_requests] == ["retry:flaky_kol:1:1"]  # same key: Dagster dedups

    env.sim.update(user_codes={})  # the API recovers
    job = env.defs.resolve_job_def("refresh_kols")
    run = job.execute_in_process(
        instance=env.instance, partition_key="flaky_kol", tags=dict(requests[0].tags), raise_on_error=False
    )
    assert run.success
    with env.db() as conn:
        assert stored_frame(conn, "flaky_kol") == expected_frame(env.sim, "flaky_kol")
    assert PipelineState(env.data_dir).failure("flaky_kol") is None
    done = _retry_tick(env)
    assert isinstance(done, dg.SkipReason) or not done.run_requests
    mat, failed = env.partition_status("notes")
    assert "flaky_kol" in mat and "flaky_kol" not in failed


def test_retry_sensor_gives_up_after_max_attempts_with_a_visible_reason(make_env: MakeEnv):
    env = make_env(
        fixed_counts={"flaky_kol": 9},
        user_codes={"flaky_kol": 500},
        pgy={"retry_cooldown_s": 0.0, "retry_max_attempts": 2},
    )
    env.refresh(["flaky_kol"])
    first = _retry_tick(env)
    assert [r.run_key for r in first.run_requests] == ["retry:flaky_kol:1:1"]
    env.refresh(["flaky_kol"])  # the retry fails too: second attempt, the maximum
    gave_up = _retry_tick(env)
    assert isinstance(gave_up, dg.SkipReason)
    assert "flaky_kol after 2 attempt(s)" in gave_up.skip_message
    failure = PipelineState(env.data_dir).failure("flaky_kol")
    assert failure is not None and failure.gave_up and failure.code == 500


def test_cooldown_grows_and_no_retry_is_launched_before_it(make_env: MakeEnv):
    env = make_env(
        fixed_counts={"flaky_kol": 9}, user_codes={"flaky_kol": 301}, pgy={"retry_cooldown_s": 600.0}
    )
    env.refresh(["flaky_kol"])
    tick = _retry_tick(env)
    assert isinstance(tick, dg.SkipReason) and "1 waiting for cooldown" in tick.skip_message
    first = PipelineState(env.data_dir).failure("flaky_kol")
    env.refresh(["flaky_kol"])
    second = PipelineState(env.data_dir).failure("flaky_kol")
    assert first and second and first.next_retry_at and second.next_retry_at
    gap1 = (first.next_retry_at - first.last_failed_at).total_seconds()
    gap2 = (second.next_retry_at - second.last_failed_at).total_seconds()
    assert gap1 == 600 and gap2 == 1200


def test_a_retry_buys_only_the_pages_the_failed_attempt_did_not_store(make_env: MakeEnv):
    env = make_env(fixed_counts={"big_kol": 120}, p_301=0.35, api={"max_attempts": 1})
    first = env.refresh(["big_kol"])
    assert not first[0].success, "with p_301=0.35 and one attempt per page, some page must fail"
    before = env.sim.counters().by_user_page
    stored_ok = {p for (u, p), n in before.items() if u == "big_kol"}
    env.sim.update(p_301=0.0)
    env.sim.reset_counters()
    second = env.refresh(["big_kol"])
    assert second[0].success
    after = env.sim.counters().by_user_page
    with env.db() as conn:
        assert stored_frame(conn, "big_kol") == expected_frame(env.sim, "big_kol")
        reused = conn.execute("SELECT pages_reused FROM fetches WHERE status = 'complete'").fetchone()[0]
    import json

    raw_lines = [
        json.loads(line)
        for f in (env.data_dir / "raw" / "big_kol").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    # Every page stored by the failed attempt was not requested again; each page stored once.
    pages_in_raw = [r["page_number"] for r in raw_lines]
    assert len(pages_in_raw) == len(set(pages_in_raw)) == 15
    bought_again = {p for (u, p) in after if u == "big_kol"}
    assert reused > 0 and reused == 15 - len(bought_again)
    assert stored_ok  # the first attempt did call


def test_an_invalid_token_stops_every_call_and_is_not_retried(make_env: MakeEnv):
    env = make_env(fixed_counts={f"k{i}": 30 for i in range(6)}, revoked_tokens={TEST_TOKEN})
    runs = env.refresh([f"k{i}" for i in range(6)])
    assert not runs[0].success
    assert runs[0].failure.startswith(
        "All API calls stopped: invalid or inactive token (code 100): set JUSTONEAPI_TOKEN to a valid token."
    )
    assert TEST_TOKEN not in runs[0].failure
    assert RunStop.decode(runs[0].tags) == RunStop("token")  # recorded as the run met it
    # Workers stop within the calls in flight (kol_workers=4).
    assert env.sim.counters().calls_total <= 4
    assert PipelineState(env.data_dir).failures() == []
    assert isinstance(_retry_tick(env), dg.SkipReason)


def test_quota_exhausted_stops_the_run_and_no_call_is_made_until_the_reset(make_env: MakeEnv):
    env = make_env(fixed_counts={f"k{i}": 30 for i in range(6)}, daily_quota=5)
    runs = env.refresh([f"k{i}" for i in range(6)])
    assert not runs[0].success and "daily quota exceeded" in runs[0].failure
    assert RunStop.decode(runs[0].tags) == RunStop("quota")
    counters = env.sim.counters()
    calls = counters.calls_total
    # After the first 303, only the calls already in flight (4 KOL workers x 4 page workers).
    assert counters.by_code[303] <= 16 and counters.by_code[0] == 5
    again = env.refresh(["k0"])
    assert not again[0].success and "no calls until" in again[0].failure
    assert env.sim.counters().calls_total == calls  # not a single call more
    tick = _retry_tick(env)
    assert isinstance(tick, dg.SkipReason) and "calls stopped until" in tick.skip_message


def test_the_daily_budget_is_never_exceeded(make_env: MakeEnv):
    env = make_env(fixed_counts={f"k{i}": 40 for i in range(5)}, pgy={"daily_call_budget": 7})
    runs = env.refresh([f"k{i}" for i in range(5)])
    assert not runs[0].success and "call budget" in runs[0].failure
    assert RunStop.decode(runs[0].tags) == RunStop("budget")
    assert env.sim.counters().calls_total == 7
    assert PipelineState(env.data_dir).spent() == 7
    with env.db() as conn:
        assert conn.execute("SELECT count(*) FROM api_calls").fetchone()[0] == 7


def _planned_partitions(env, run_id: str) -> list[tuple[str, str]]:
    records = env.instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    return sorted(
        (
            r.event_log_entry.dagster_event.asset_key.to_user_string(),
            r.event_log_entry.dagster_event.partition,
        )
        for r in records
    )


def test_planned_events_are_written_only_for_the_kols_that_failed(make_env: MakeEnv):
    # Run creation writes no planned event per (asset, KOL) (a minute for 1,000 KOLs on SQLite);
    # the step writes them for the failed KOLs only, which is what marks a partition FAILED.
    env = make_env(fixed_counts=COUNTS, forbidden_users={"denied_kol"})
    runs = env.refresh(list(COUNTS))
    assert not runs[0].success
    assert _planned_partitions(env, runs[0].run_id) == [("note_pages", "denied_kol"), ("notes", "denied_kol")]
    mat, failed = env.partition_status("note_pages")
    assert mat == {"ok_kol", "flaky_kol"} and failed == {"denied_kol"}
    ok = env.refresh(["ok_kol"])
    assert ok[0].success and _planned_partitions(env, ok[0].run_id) == []


def test_a_run_that_fails_before_any_kol_leaves_all_its_partitions_failed(make_env: MakeEnv):
    env = make_env(fixed_counts=COUNTS)
    # Another source already owns this data dir: the step stops before a single call.
    PipelineState(env.data_dir).claim_source("https://other.example", holds_data=True, simulated=False)
    runs = env.refresh(["ok_kol", "flaky_kol"])
    assert not runs[0].success and env.sim.counters().calls_total == 0
    mat, failed = env.partition_status("notes")
    assert mat == set() and failed == {"ok_kol", "flaky_kol"}


def test_a_storm_of_301s_does_not_eat_the_budget_of_billed_calls(make_env: MakeEnv):
    counts = {"flaky_kol": 9, "ok_a": 8, "ok_b": 8, "ok_c": 8}
    env = make_env(fixed_counts=counts, user_codes={"flaky_kol": 301}, pgy={"daily_call_budget": 4})
    runs = env.refresh(list(counts))
    assert not runs[0].success and "call budget" not in (runs[0].failure or "")
    assert runs[0].tags["pgy/failed_kols"] == "flaky_kol:301:retry"  # the budget stopped nobody
    state = PipelineState(env.data_dir)
    assert (state.spent(), state.unbilled()) == (3, 4)  # three pages bought, four 301s free
    with env.db() as conn:
        spend = conn.execute("SELECT calls_billed, calls_unbilled, calls FROM api_spend_daily").fetchall()
    assert spend == [(3, 4, 7)]


def test_unbilled_calls_stop_every_call_at_their_own_limit(make_env: MakeEnv):
    ids = [f"k{i}" for i in range(6)]
    env = make_env(fixed_counts=dict.fromkeys(ids, 9), p_301=1.0, pgy={"daily_unbilled_call_limit": 10})
    runs = env.refresh(ids)
    assert not runs[0].success and "unbilled call limit reached" in (runs[0].failure or "")
    # Within the calls in flight (4 KOL workers) of the limit; nothing billed.
    assert 10 <= env.sim.counters().calls_total <= 10 + 4
    assert PipelineState(env.data_dir).spent() == 0


def test_a_publish_failure_fails_no_kol_and_the_run_says_the_snapshot_lags(make_env: MakeEnv):
    env = make_env(fixed_counts={"k1": 9, "k2": 12})
    # A directory where each publish writes its temporary copy: every publish fails.
    blocker = env.data_dir / f".pgy.duckdb.{os.getpid()}.tmp"
    blocker.mkdir()
    (blocker / "in-the-way").write_text("", encoding="utf-8")
    (run,) = env.refresh(["k1", "k2"])
    assert not run.success
    assert run.failure.startswith("2 KOL(s) stored, but "), run.failure
    assert "pgy.duckdb was not published (IsADirectoryError" in run.failure
    assert "pgy/failed_kols" not in run.tags
    mat, failed = env.partition_status("notes")
    assert mat == {"k1", "k2"} and failed == set()
    assert PipelineState(env.data_dir).failures() == []
    shutil.rmtree(blocker)
    env.refresh(["k1"])  # the next run's publish carries both
    with env.db() as conn:
        assert stored_frame(conn, "k2") == expected_frame(env.sim, "k2")


def test_a_run_publishes_no_snapshot_before_its_first_call_and_one_at_its_end(make_env: MakeEnv, monkeypatch):
    from pgy_pipeline.justoneapi.client import NotesDetailClient
    from pgy_pipeline.warehouse.db import Warehouse

    env = make_env(fixed_counts={"k1": 9})
    env.refresh(["k1"])  # the warehouse and its snapshot exist, as on any day but the first
    order: list[str] = []
    publish, attempt = Warehouse._publish_locked, NotesDetailClient._attempt

    def published(self: Warehouse) -> None:
        order.append("publish")
        publish(self)

    def called(self: NotesDetailClient, *args, **kwargs):
        order.append("call")
        return attempt(self, *args, **kwargs)

    monkeypatch.setattr(Warehouse, "_publish_locked", published)
    monkeypatch.setattr(NotesDetailClient, "_attempt", called)
    env.refresh(["k1"])
    assert order[0] == "call" and order[-1] == "publish", order  # each publish copies the whole file
