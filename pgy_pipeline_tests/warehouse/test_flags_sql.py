"""Plausibility flags against KOLs built to raise (or not raise) each one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline.warehouse.writes import sync_kols
from pgy_pipeline_tests.warehouse.lab import Lab, note, pages_of

AS_OF = date(2026, 3, 10)


def ago(days: int) -> str:
    return (AS_OF - timedelta(days=days)).isoformat()


def notes(start: int, count: int, days_ago: int, reads: int, like_collect: int) -> list[dict]:
    likes = like_collect * 4 // 5
    return [
        note(start + i, reads=reads, likes=likes, collects=like_collect - likes, date=ago(days_ago))
        for i in range(count)
    ]


@pytest.fixture
def kols(tmp_path):
    """h: recent rate 4x its history; n: steady; c: gone quiet; o: far above its category; j: reads
    jumping with no like or collect following."""
    lab = Lab(tmp_path)
    lab.fetch("h", pages_of(notes(0, 5, 3, 1000, 200) + notes(10, 15, 60, 1000, 50)))
    lab.fetch("n", pages_of(notes(100, 5, 3, 1000, 50) + notes(110, 15, 60, 1000, 50)))
    lab.fetch("c", pages_of(notes(200, 15, 60, 1000, 50)))
    lab.fetch("o", pages_of(notes(300, 5, 3, 1000, 500)))
    before = notes(400, 2, 100, 1000, 15)
    lab.fetch("j", pages_of(before))
    after = [dict(before[0], readNum=7000), dict(before[1], readNum=7000, likeNum=100, collectNum=50)]
    lab.fetch("j", pages_of(after))
    sync_kols(lab.conn, [(u, None, "food") for u in ("h", "n", "c", "o")] + [("j", None, None)])
    refresh_kol_engagement(lab.conn, AS_OF, EngagementSettings(peer_min_kols=3))
    return lab


def test_each_flag_is_raised_with_its_figures_and_the_steady_kol_raises_none(kols):
    rows = kols.query("SELECT user_id, flag, value, reference FROM kol_flags ORDER BY user_id, flag")
    category_median = (0.05 + 1750 / 20000) / 2  # food 90-day rates: c 0.05, n 0.05, h 0.0875, o 0.5
    assert rows == [
        ("c", "cadence_change", 0.0, pytest.approx(15 * 7 / 90)),
        ("h", "rate_vs_history", pytest.approx(0.2), pytest.approx(0.05)),
        ("j", "reads_without_like_collect", 1, 6000),
        ("o", "cadence_change", pytest.approx(5 * 7 / 30), 0.0),  # a new account: all its notes are recent
        ("o", "rate_vs_category", pytest.approx(0.5), pytest.approx(category_median)),
    ]


def test_a_flag_says_why_in_words(kols):
    reasons = dict(kols.query("SELECT flag, reason FROM kol_flags WHERE user_id IN ('h', 'j')"))
    assert reasons["rate_vs_history"] == (
        "like_collect rate of the last 30 days 20.00% (5 notes) is 4.0x its own rate over the 335 days "
        "before, 5.00% (15 notes)"
    )
    assert "gained 5000 or more reads" in reasons["reads_without_like_collect"]
    assert "largest: 6000 reads" in reasons["reads_without_like_collect"]


def test_flags_never_change_a_figure(kols):
    before = kols.query("SELECT * FROM kol_engagement ORDER BY user_id")
    refresh_kol_engagement(kols.conn, AS_OF, EngagementSettings(peer_min_kols=3, flag_rate_factor=100))
    assert kols.query("SELECT count(*) FROM kol_flags WHERE flag LIKE 'rate%'") == [(0,)]
    assert kols.query("SELECT * FROM kol_engagement ORDER BY user_id") == before


def test_too_few_notes_raise_no_flag(kols):
    refresh_kol_engagement(kols.conn, AS_OF, EngagementSettings(peer_min_kols=3, flag_min_notes=16))
    assert kols.query("SELECT user_id, flag FROM kol_flags") == [("j", "reads_without_like_collect")]
