"""The engagement SQL: medians (not means) of like_collect, and no rate out of zero reads."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from pgy_pipeline.warehouse.engagement import (
    KOL_ENGAGEMENT_COLUMNS,
    MEDIAN_VALUES_PER_STATEMENT,
    build_kol_engagement,
    kol_engagement_statements,
    refresh_kol_engagement,
)
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
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


def test_medians_computed_a_few_at_a_time_equal_those_of_one_statement(tmp_path):
    lab = Lab(tmp_path)
    old = (AS_OF - timedelta(days=200)).isoformat()
    for k in range(3):
        notes = [
            note(
                f"{k:04x}{i:020x}",
                reads=100 + 37 * i * (k + 1),
                likes=None if i == 5 else 3 * i + k,
                collects=i % 4,
                date=RECENT if i % 3 else old,
                isVideo=i % 2 == 0,
                isAdvertise=i % 5 == 0,
            )
            for i in range(12 + 5 * k)
        ]
        lab.fetch(f"{KOL}{k}", pages_of(notes))
    settings = EngagementSettings()

    def table(median_values: int) -> list[tuple[object, ...]]:
        build_kol_engagement(lab.conn, AS_OF, settings, median_values)
        return lab.query("SELECT * FROM kol_engagement ORDER BY user_id")

    whole = table(10**9)
    assert len(whole) == 3 and len(whole[0]) == len(KOL_ENGAGEMENT_COLUMNS) + 1
    assert table(1) == whole  # one median a statement: 35 parts joined back on user_id
    assert not lab.query(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'kol_engagement_part%'"
    )


def test_each_statement_holds_a_bounded_number_of_median_values():
    def median_statements(notes: int) -> list[str]:
        return [s for s in kol_engagement_statements(notes) if "median(" in s]

    medians = sum(sql.startswith("median(") for _, sql in KOL_ENGAGEMENT_COLUMNS)
    assert medians == 35
    assert len(median_statements(1_000)) == 1  # a small warehouse: all medians in one statement
    big = median_statements(4_300_000)  # 10,000 KOLs of full history
    assert all(s.count("median(") * 4_300_000 <= MEDIAN_VALUES_PER_STATEMENT for s in big)
    assert len(big) == 18
