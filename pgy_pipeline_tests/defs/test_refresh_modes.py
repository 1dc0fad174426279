"""The refresh modes, budget priority and the pinned day through the Dagster asset."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from pgy_pipeline.defs.resources import JustOneApiResource
from pgy_pipeline.refresh.modes import FetchKind, RefreshMode, choose_kinds
from pgy_pipeline_tests.support import ANCHOR, MakeEnv

COUNTS = {"kol_a": 40, "kol_b": 40, "kol_c": 40, "kol_d": 17}


def test_auto_mode_fetches_the_rota_fully_and_the_rest_incrementally(
    make_env, monkeypatch: pytest.MonkeyPatch
):
    env = make_env(fixed_counts=COUNTS)
    users = list(COUNTS)
    monkeypatch.setenv("PGY_TODAY", ANCHOR.isoformat())
    assert [r.success for r in env.refresh(users, {"mode": "auto"})] == [True]  # never fetched: all full
    day = ANCHOR + timedelta(days=1)
    monkeypatch.setenv("PGY_TODAY", day.isoformat())
    env.sim.update(as_of=day)
    runs = env.refresh(users, {"mode": "auto"})
    assert runs[0].success and runs[0].tags["pgy/mode"] == "auto"
    expected = choose_kinds(users, RefreshMode.AUTO, day, 7, dict.fromkeys(users, ANCHOR))
    with env.db() as conn:
        got = dict(
            conn.execute("SELECT user_id, is_full FROM fetches WHERE run_id = ?", [runs[0].run_id]).fetchall()
        )
    assert got == {u: k is FetchKind.FULL for u, k in expected.items()}
    assert runs[0].tags["pgy/plan_incremental_kols"] == str(sum(not f for f in got.values()))
    assert env.engagement().success
    with env.db() as conn:
        rows = conn.execute(
            "SELECT user_id, CAST(timezone('Asia/Shanghai', last_full_refresh_at) AS DATE), "
            "last_incremental_refresh_at IS NOT NULL, as_of_date FROM kol_engagement"
        ).fetchall()
        comments = conn.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'kol_engagement' "
            "AND column_name LIKE 'last_%_refresh_at' AND comment IS NOT NULL"
        ).fetchone()
    assert comments == (2,)
    for user, last_full, has_incremental, as_of in rows:
        assert as_of == day  # the engagement windows end on the pinned day
        assert has_incremental == (not got[user])
        assert last_full == (day if got[user] else ANCHOR)


def test_over_budget_the_stalest_kols_go_first_and_the_rest_wait(
    make_env: MakeEnv, monkeypatch: pytest.MonkeyPatch
):
    # One budget day for the whole test, even when it runs across midnight in Asia/Shanghai.
    monkeypatch.setenv("PGY_TODAY", ANCHOR.isoformat())
    env = make_env(fixed_counts=COUNTS)
    for user in ("kol_c", "kol_a", "kol_b"):  # kol_c is the stalest, kol_b the freshest
        env.refresh([user])
    env.pgy_overrides["daily_call_budget"] = 15 + 12  # 15 spent today; 5 calls a KOL: two fit
    runs = env.refresh(["kol_a", "kol_b", "kol_c"])
    assert runs[0].success
    assert runs[0].tags["pgy/waiting_kols"] == "kol_b"
    with env.db() as conn:
        again = conn.execute("SELECT user_id FROM fetches WHERE run_id = ?", [runs[0].run_id]).fetchall()
    assert sorted(r[0] for r in again) == ["kol_a", "kol_c"]


def test_the_embedded_simulator_serves_the_pinned_day(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("JUSTONEAPI_TOKEN", raising=False)
    monkeypatch.delenv("JUSTONEAPI_BASE_URL", raising=False)
    monkeypatch.setenv("PGY_TODAY", "2026-05-04")
    with JustOneApiResource(simulator_profile="clean").open_client() as client:
        clock = requests.get(client.config.base_url + "/__simulator/clock", timeout=5).json()
    assert clock == {"as_of": "2026-05-04"}
