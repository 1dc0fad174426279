"""The full-refresh rota, the kinds of fetch, and the PGY_TODAY pin of the pipeline's day."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from pgy_pipeline import settings
from pgy_pipeline.refresh.modes import FetchKind, RefreshMode, choose_kinds, is_rota_day, rota_slot
from pgy_pipeline.refresh.plan import KolPlan, RefreshPlan, prioritise

DAY = date(2026, 3, 8)
IDS = [f"kol{i:05d}" for i in range(700)]


def test_pgy_today_pins_today_and_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGY_TODAY", "2026-01-02")
    assert settings.today() == date(2026, 1, 2)
    assert settings.now().astimezone(settings.PIPELINE_TZ).date() == date(2026, 1, 2)
    monkeypatch.setenv("PGY_TODAY", "02/01/2026")
    with pytest.raises(ValueError, match="PGY_TODAY"):
        settings.today()
    monkeypatch.delenv("PGY_TODAY")
    assert abs((settings.today() - date.today()).days) <= 1


def test_the_rota_gives_each_kol_exactly_one_full_day_in_n_and_spreads_them() -> None:
    for n in (1, 3, 7):
        days = [DAY + timedelta(days=d) for d in range(n)]
        per_kol = Counter(u for day in days for u in IDS if is_rota_day(u, day, n))
        assert set(per_kol.values()) == {1} and len(per_kol) == len(IDS)
    per_day = Counter(rota_slot(u, 7) for u in IDS)
    assert len(per_day) == 7 and max(per_day.values()) < 1.3 * len(IDS) / 7  # even spend


def test_auto_gives_full_to_rota_never_fetched_and_stale_kols_incremental_to_the_rest() -> None:
    off = [u for u in IDS if not is_rota_day(u, DAY, 7)][:3]
    on = next(u for u in IDS if is_rota_day(u, DAY, 7))
    last = {
        off[0]: None,
        off[1]: DAY - timedelta(days=8),
        off[2]: DAY - timedelta(days=2),
        on: DAY - timedelta(days=7),
    }
    kinds = choose_kinds([*off, on], RefreshMode.AUTO, DAY, 7, last)
    assert kinds == {
        off[0]: FetchKind.FULL,  # never fully fetched
        off[1]: FetchKind.FULL,  # last full older than 7 days
        off[2]: FetchKind.INCREMENTAL,
        on: FetchKind.FULL,  # its rota day
    }
    assert set(choose_kinds(off, RefreshMode.FULL, DAY, 7, last).values()) == {FetchKind.FULL}
    assert set(choose_kinds(off, RefreshMode.INCREMENTAL, DAY, 7, last).values()) == {FetchKind.INCREMENTAL}
    # Only newest-first pages can stop at a date.
    most_read = choose_kinds(off, RefreshMode.AUTO, DAY, 7, last, {"order_type": "MOST_READ"})
    assert set(most_read.values()) == {FetchKind.FULL}


def _kol(user: str, calls: float, last_day: int | None) -> KolPlan:
    from datetime import UTC, datetime

    last = None if last_day is None else datetime(2026, 3, last_day, tzinfo=UTC)
    return KolPlan(user, FetchKind.FULL, None, 10, 2, 0, calls, False, last)


def test_budget_priority_takes_the_stalest_first_and_lists_who_waits() -> None:
    kols = [_kol("fresh", 5, 7), _kol("never", 5, None), _kol("stale", 5, 1), _kol("mid", 5, 4)]
    plan = prioritise(RefreshPlan(DAY, RefreshMode.AUTO, kols, 8, 1.0, budget=20, spent_today=8))
    assert [k.user_id for k in plan.kols] == ["never", "stale", "mid", "fresh"]
    assert [k.user_id for k in plan.to_fetch] == ["never", "stale"]  # 12 calls left: two fit
    assert plan.waiting == ["mid", "fresh"]
    assert [o.status.value for o in plan.deferred_outcomes()] == ["deferred", "deferred"]
    unbudgeted = prioritise(RefreshPlan(DAY, RefreshMode.AUTO, kols, 8, 1.0, budget=None, spent_today=8))
    assert not unbudgeted.waiting
