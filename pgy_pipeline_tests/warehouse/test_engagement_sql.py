"""The engagement SQL: medians (not means) of like_collect, and no rate out of zero reads."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
from pgy_pipeline_tests.warehouse.lab import Lab, note, pages_of

KOL = "kol"
AS_OF = date(2026, 3, 10)
RECENT = (AS_OF - timedelta(days=3)).isoformat()


@pytest.fixture
def skewed(tmp_path):
    """11 notes, 100 reads each: ten with 10 likes + collects, one viral with 1,000 (mean 100, median 10)."""
    lab = Lab(tmp_path)
    notes = [note(i, reads=100, likes=6, collects=4, date=RECENT) for i in range(10)]
    notes.append(note(10, reads=100, likes=600, collects=400, date=RECENT))
    lab.fetch(KOL, pages_of(notes))
    refresh_kol_engagement(lab.conn, AS_OF)
    return lab


def test_kol_engagement_takes_medians_not_means(skewed):
    cols = ["like_collect_median", "organic_like_collect_median", "like_collect_median_30d"]
    cols += [
        "organic_like_collect_median_90d",
        "like_collect_rate_median",
        "organic_like_collect_rate_median",
    ]
    row = skewed.query(f"SELECT {', '.join(cols)} FROM kol_engagement")[0]
    assert dict(zip(cols, row, strict=True)) == pytest.approx({c: (0.1 if "rate" in c else 10) for c in cols})


def test_the_views_take_medians_not_means(skewed):
    assert skewed.query("SELECT like_collect_rate_median FROM kol_leaderboard") == [(pytest.approx(0.1),)]
    assert skewed.query("SELECT like_collect_median FROM kol_organic_vs_cooperation") == [(10,)]


@pytest.fixture
def zero_reads(tmp_path):
    """Eight notes with 100 reads (rates 0.01 to 0.08), four with none: two x/0, two 0/0."""
    lab = Lab(tmp_path)
    notes = [note(i, reads=100, likes=i + 1, collects=0) for i in range(8)]
    notes += [note(8, reads=0, likes=3), note(9, reads=0, likes=0, collects=7)]
    notes += [note(10, reads=0, likes=0, collects=0), note(11, reads=0, likes=0, collects=0)]
    lab.fetch(KOL, pages_of(notes))
    refresh_kol_engagement(lab.conn, AS_OF)
    return lab


def test_a_note_with_zero_reads_has_no_rate(zero_reads):
    rates = zero_reads.query(
        "SELECT read_num, like_collect_rate, like_rate, collect_rate FROM note_engagement"
    )
    assert [r[1:] for r in rates if r[0] == 0] == [(None, None, None)] * 4
    assert all(math.isfinite(x) for r in rates if r[0] for x in r[1:])


def test_zero_reads_leave_the_kol_rates_as_over_the_notes_with_reads(zero_reads):
    median, pooled = zero_reads.query(
        "SELECT like_collect_rate_median, like_collect_rate_pooled FROM kol_engagement"
    )[0]
    assert median == pytest.approx(0.045) and pooled == pytest.approx(36 / 800)
    assert zero_reads.query("SELECT like_collect_rate_median FROM kol_leaderboard") == [
        (pytest.approx(0.045),)
    ]
