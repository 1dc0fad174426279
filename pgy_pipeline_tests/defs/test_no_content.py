"""Code 201 (no content available): billed, its own outcome, no evidence of deletions, not bought daily."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from pgy_pipeline.cli import runner
from pgy_pipeline.refresh.modes import RefreshMode
from pgy_pipeline.refresh.plan import PlanSettings, make_plan
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.support import MakeEnv, expected_frame, stored_frame

COUNTS = {"kol_a": 20, "kol_e": 9}


def _metadata(env, user_id: str) -> dict:
    records = env.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("notes"), asset_partitions=[user_id]), limit=1
    ).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_a_201_is_no_content_never_marks_notes_gone_and_is_said_on_the_partition(make_env: MakeEnv):
    env = make_env(fixed_counts=COUNTS)
    env.refresh(list(COUNTS))
    with env.db() as conn:
        before = stored_frame(conn, "kol_e")
    env.sim.update(user_codes={"kol_e": 201})
    force = {"force": True}  # a person asks again: the 201 is bought twice, as two full fetches would be
    for _ in range(2):
        (run,) = runner.refresh(env.defs, env.instance, ["kol_a", "kol_e"], force)
        assert run.success  # a KOL without content is no failure
    with env.db() as conn:
        assert stored_frame(conn, "kol_e") == before == expected_frame(env.sim, "kol_e")  # none gone
        assert stored_frame(conn, "kol_a") == expected_frame(env.sim, "kol_a")
    md = _metadata(env, "kol_e")
    assert md["no_content"] is True and md["api_code"] == 201 and "no content available" in md["message"]
    state = PipelineState(env.data_dir)
    assert "kol_e" in state.no_content() and state.failure("kol_e") is None  # no retry either


def test_a_kol_that_answered_201_is_not_bought_again_daily_until_forced(make_env: MakeEnv):
    env = make_env(fixed_counts=COUNTS, user_codes={"kol_e": 201})
    env.refresh(list(COUNTS))
    assert env.sim.counters().by_user["kol_e"] == 1
    assert PipelineState(env.data_dir).spent() == 3 + 1  # kol_a's three pages, and the 201: billed
    env.sim.reset_counters()
    (run,) = env.refresh(list(COUNTS))
    assert run.success and "kol_e" not in env.sim.counters().by_user
    runner.refresh(env.defs, env.instance, ["kol_e"], {"force": True})
    assert env.sim.counters().by_user["kol_e"] == 1


def test_the_plan_skips_a_kol_without_content_until_the_recheck_interval_passed(tmp_path):
    now = datetime(2026, 3, 8, 6, tzinfo=UTC)
    settings = PlanSettings(window_days=14, full_every_days=7, no_content_recheck=timedelta(days=30))

    def plan(since: datetime):  # type: ignore[no-untyped-def]
        return make_plan(
            None,
            RawStore(tmp_path),
            ["u1", "u2"],
            RefreshMode.AUTO,
            date(2026, 3, 8),
            now,
            settings,
            no_content={"u2": since},
        )

    recent = plan(now - timedelta(days=3))
    assert [k.user_id for k in recent.to_fetch] == ["u1"] and [k.user_id for k in recent.no_content] == ["u2"]
    (skipped,) = recent.no_content_outcomes()
    assert skipped.status == "no_content" and "not bought again before 2026-04-04" in (skipped.message or "")
    assert [k.user_id for k in plan(now - timedelta(days=31)).to_fetch] == ["u1", "u2"]
