"""Incremental fetches, the pinned day and the plan, through the refresh core over loopback HTTP."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pgy_pipeline import settings
from pgy_pipeline.refresh import KolStatus, Refresher
from pgy_pipeline.refresh.modes import RefreshMode
from pgy_pipeline.refresh.parts import ConfigClient, RefreshSettings, Stores
from pgy_pipeline.refresh.plan import PlanSettings, make_plan
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse import Warehouse, queries
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.justoneapi.helpers import fast_config
from pgy_pipeline_tests.support import ANCHOR

# The start of the window listing_glitches counts in: thirty days before the simulator's today.
SINCE = datetime.combine(ANCHOR - timedelta(days=30), datetime.min.time())


def refresher(sim: Simulator, data: Path, **how: Any) -> Refresher:
    # Pages stamped by the pipeline's clock, as the Dagster resource does.
    opener = ConfigClient(fast_config(sim.base_url), clock=settings.now)
    stores = Stores(Warehouse(data, publish_interval_s=0.0), RawStore(data), PipelineState(data))
    return Refresher(opener, stores, RefreshSettings(kol_workers=4, **how), "run")


def fetch_rows(data: Path, user: str) -> list[tuple[Any, ...]]:
    with Warehouse(data).connect_snapshot() as conn:
        return conn.execute(
            "SELECT is_full, status, stop_reason, calls FROM fetches WHERE user_id = ? ORDER BY finished_at",
            [user],
        ).fetchall()


def test_a_kol_with_no_recent_notes_costs_one_page(tmp_path: Path) -> None:
    with Simulator("clean", seed=7, as_of=ANCHOR, fixed_counts={"kol_forty": 40}) as sim:
        out = refresher(sim, tmp_path).refresh(
            ["kol_forty"], stop_before={"kol_forty": ANCHOR + timedelta(days=1)}
        )
        assert out[0].status == KolStatus.OK and out[0].incremental and out[0].stop_reason == "window_reached"
        assert sim.counters().calls_total == 1
    assert fetch_rows(tmp_path, "kol_forty") == [(False, "incomplete", "window_reached", 1)]


def test_incremental_never_marks_gone(tmp_path: Path) -> None:
    with Simulator("clean", seed=7, as_of=ANCHOR, fixed_counts={"kol_forty": 40}) as sim:
        r = refresher(sim, tmp_path)
        r.refresh(["kol_forty"])
        sim.update(fixed_counts={"kol_forty": 37})  # three notes disappear
        # A window far in the past: the incremental fetch reads the whole list, and still
        # is no proof that a note is gone.
        inc = r.refresh(["kol_forty"], stop_before={"kol_forty": ANCHOR - timedelta(days=3650)})
        assert inc[0].status == KolStatus.OK and inc[0].marked_gone == 0 and not inc[0].complete
        with Warehouse(tmp_path).connect_snapshot() as conn:
            assert conn.execute("SELECT count(*) FROM notes WHERE gone_at IS NOT NULL").fetchone() == (0,)
        assert fetch_rows(tmp_path, "kol_forty")[-1][:2] == (False, "incomplete")
        r.refresh(["kol_forty"])
        r.refresh(["kol_forty"])  # complete full fetches do (two, whatever the evidence rule)
        with Warehouse(tmp_path).connect_snapshot() as conn:
            assert conn.execute("SELECT count(*) FROM notes WHERE gone_at IS NOT NULL").fetchone() == (3,)


def test_the_fresh_skip_follows_the_pinned_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Simulator("clean", seed=7, as_of=ANCHOR, fixed_counts={"kol_nine": 9}) as sim:
        r = refresher(sim, tmp_path, fresh_for=timedelta(hours=12))
        monkeypatch.setenv("PGY_TODAY", ANCHOR.isoformat())
        assert r.refresh(["kol_nine"])[0].status == KolStatus.OK
        assert r.refresh(["kol_nine"])[0].status == KolStatus.SKIPPED  # same pinned day: fresh
        monkeypatch.setenv("PGY_TODAY", (ANCHOR + timedelta(days=1)).isoformat())
        assert r.refresh(["kol_nine"])[0].status == KolStatus.OK  # a day later: bought again
        # An incremental fetch today does not make today's full one unnecessary; the reverse holds.
        monkeypatch.setenv("PGY_TODAY", (ANCHOR + timedelta(days=2)).isoformat())
        window = {"kol_nine": ANCHOR - timedelta(days=30)}
        assert r.refresh(["kol_nine"], stop_before=window)[0].status == KolStatus.OK
        assert r.refresh(["kol_nine"])[0].status == KolStatus.OK
        assert r.refresh(["kol_nine"], stop_before=window)[0].status == KolStatus.SKIPPED
    with Warehouse(tmp_path).connect_snapshot() as conn:
        days = conn.execute(
            "SELECT DISTINCT CAST(timezone('Asia/Shanghai', finished_at) AS DATE) FROM fetches ORDER BY 1"
        ).fetchall()
    assert [d[0] for d in days] == [ANCHOR + timedelta(days=i) for i in range(3)]


def test_the_plan_estimates_the_calls_of_an_auto_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [f"kol{i:03d}" for i in range(40)]
    cfg = PlanSettings(window_days=14, full_every_days=7)
    with Simulator("clean", seed=7, as_of=ANCHOR) as sim:
        r = refresher(sim, tmp_path)
        for d in range(3):
            day = ANCHOR + timedelta(days=d)
            monkeypatch.setenv("PGY_TODAY", day.isoformat())
            sim.update(as_of=day)
            with Warehouse(tmp_path).connect_snapshot() if d else contextlib.nullcontext() as conn:
                plan = make_plan(conn, RawStore(tmp_path), users, RefreshMode.AUTO, day, settings.now(), cfg)
            before = sim.counters().calls_total
            out = r.refresh([k.user_id for k in plan.to_fetch], None, plan.stop_before)
            actual = sim.counters().calls_total - before
            assert all(o.status == KolStatus.OK for o in out)
            if d:  # day 0 knows nothing yet
                assert plan.page_size == 8
                assert abs(plan.total_calls - actual) <= max(2.0, 0.05 * actual), (
                    day,
                    plan.total_calls,
                    actual,
                )


def test_notes_a_full_fetch_missed_are_confirmed_gone_the_next_day(tmp_path: Path, monkeypatch) -> None:
    """Off its rota day, a KOL whose last full fetch missed notes still gets a full fetch in auto mode."""
    user = "kol_forty"
    cfg = PlanSettings(window_days=14, full_every_days=7)
    with Simulator("clean", seed=7, as_of=ANCHOR, fixed_counts={user: 40}) as sim:
        r = refresher(sim, tmp_path)
        day = ANCHOR
        monkeypatch.setenv("PGY_TODAY", day.isoformat())
        r.refresh([user])  # day 0: first full fetch
        sim.update(fixed_counts={user: 37})  # three notes are deleted
        day += timedelta(days=1)
        monkeypatch.setenv("PGY_TODAY", day.isoformat())
        r.refresh([user])  # a full fetch misses them: awaiting confirmation, not gone yet
        with Warehouse(tmp_path).connect_snapshot() as conn:
            assert conn.execute("SELECT count(*) FROM notes WHERE gone_at IS NOT NULL").fetchone() == (0,)
        # The next day, whatever the rota says, auto mode fully fetches this KOL again.
        day += timedelta(days=1)
        monkeypatch.setenv("PGY_TODAY", day.isoformat())
        with Warehouse(tmp_path).connect_snapshot() as conn:
            plan = make_plan(conn, RawStore(tmp_path), [user], RefreshMode.AUTO, day, settings.now(), cfg)
        assert plan.stop_before.get(user) is None  # a full fetch, not a windowed one
        r.refresh([user], stop_before=plan.stop_before)
        with Warehouse(tmp_path).connect_snapshot() as conn:
            assert conn.execute("SELECT count(*) FROM notes WHERE gone_at IS NOT NULL").fetchone() == (3,)
        # Nothing left to confirm: the day after is incremental again (unless it is the rota day).
        day += timedelta(days=1)
        with Warehouse(tmp_path).connect_snapshot() as conn:
            after = make_plan(conn, RawStore(tmp_path), [user], RefreshMode.AUTO, day, settings.now(), cfg)
        from pgy_pipeline.refresh.modes import is_rota_day

        assert (after.stop_before.get(user) is None) == is_rota_day(user, day, 7)


def test_a_kol_whose_listings_glitched_more_than_they_lost_waits_for_the_rota_to_confirm(
    tmp_path: Path, monkeypatch
) -> None:
    """A missing note buys a next-day full fetch only while that evidence has been worth it."""
    from pgy_pipeline.refresh.modes import is_rota_day

    cfg = PlanSettings(window_days=14, full_every_days=7)
    # A KOL none of whose next six days is its rota day, so only a confirmation makes a full fetch.
    user = next(
        f"kol_{i}"
        for i in range(100)
        if not any(is_rota_day(f"kol_{i}", ANCHOR + timedelta(days=d), 7) for d in range(1, 7))
    )
    with Simulator("clean", seed=7, as_of=ANCHOR, fixed_counts={user: 40}) as sim:
        r = refresher(sim, tmp_path)

        def plan_for(day):
            monkeypatch.setenv("PGY_TODAY", day.isoformat())
            with Warehouse(tmp_path).connect_snapshot() as conn:
                return make_plan(conn, RawStore(tmp_path), [user], RefreshMode.AUTO, day, settings.now(), cfg)

        # Days 0-3, full fetches: the listing drops a note on day 1 and lists it again on day 2
        # (a glitch), then drops it again on day 3.
        for day_number, count in enumerate((40, 39, 40, 39)):
            monkeypatch.setenv("PGY_TODAY", (ANCHOR + timedelta(days=day_number)).isoformat())
            sim.update(fixed_counts={user: count})
            r.refresh([user])
        with Warehouse(tmp_path).connect_snapshot() as conn:
            assert queries.listing_glitches(conn, [user], SINCE) == {user: (1, 0)}
        plan = plan_for(ANCHOR + timedelta(days=4))
        assert plan.stop_before.get(user) is not None  # incremental: no confirmation bought
        assert any("wait for the rota" in n for n in plan.messages)
        # Once deletions outweigh the glitches, a missing note is confirmed the next day again.
        r.refresh([user])  # day 4, full (as plan_for left PGY_TODAY): still missing, so marked gone
        with Warehouse(tmp_path).connect_snapshot() as conn:
            assert queries.listing_glitches(conn, [user], SINCE) == {user: (1, 1)}
        sim.update(fixed_counts={user: 38})  # one more note missing (deleted)
        monkeypatch.setenv("PGY_TODAY", (ANCHOR + timedelta(days=5)).isoformat())
        r.refresh([user])  # a full fetch misses it
        assert plan_for(ANCHOR + timedelta(days=6)).stop_before.get(user) is None  # confirmation bought
