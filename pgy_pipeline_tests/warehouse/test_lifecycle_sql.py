"""Note lifecycle from note_snapshots, against snapshots placed by hand on chosen days."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

import pytest

from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline_tests.warehouse.lab import Lab, nid, note, pages_of

AS_OF = date(2026, 3, 10)
PUBLISHED = date(2026, 2, 1)


def fetch_on(lab: Lab, day: date, reads: Mapping[int, int | None], published: Mapping[int, date]) -> None:
    """A full fetch at noon Asia/Shanghai of ``day``: note i with reads[i], likes a tenth, collects a twentieth."""
    lab.now = datetime(day.year, day.month, day.day, 4, tzinfo=UTC)
    notes = [
        note(i, reads=r, likes=None if r is None else r // 10, collects=None if r is None else r // 20,
             date=published[i].isoformat())
        for i, r in reads.items()
    ]  # fmt: skip
    lab.fetch("k", pages_of(notes))


@pytest.fixture
def curve(tmp_path):
    """Note 1's snapshots on days 1, 2, 4, 8, 20 and 31 after publishing; note 2 with unknown metrics on day 8."""
    lab = Lab(tmp_path)
    published = {1: PUBLISHED, 2: PUBLISHED}
    for age, r1, r2 in (
        (1, 100, 10),
        (2, 200, 20),
        (4, 400, 40),
        (8, 800, None),
        (20, 2000, 200),
        (31, 3100, 310),
    ):
        fetch_on(lab, date.fromordinal(PUBLISHED.toordinal() + age), {1: r1, 2: r2}, published)
    refresh_kol_engagement(lab.conn, AS_OF)
    return lab


def test_each_day_point_takes_the_nearest_snapshot_within_the_tolerance(curve):
    rows = curve.query(
        "SELECT day, snapshot_age_days, read_num, like_collect FROM note_lifecycle WHERE note_id = ? ORDER BY day",
        nid(1),
    )
    # day 3: days 2 and 4 are as near; the earlier wins. Day 14: nothing within a day, so no point.
    assert rows == [(1, 1, 100, 15), (3, 2, 200, 30), (7, 8, 800, 120), (30, 31, 3100, 465)]


def test_a_wider_tolerance_fills_a_point_and_zero_takes_only_the_exact_day(curve):
    refresh_kol_engagement(curve.conn, AS_OF, EngagementSettings(lifecycle_tolerance_days=3))
    assert curve.query("SELECT day FROM note_lifecycle WHERE note_id = ? ORDER BY day", nid(1)) == [
        (1,), (3,), (7,), (30,)  # day 14's nearest snapshot is day 20: still too far
    ]  # fmt: skip
    refresh_kol_engagement(curve.conn, AS_OF, EngagementSettings(lifecycle_tolerance_days=0))
    assert curve.query("SELECT day FROM note_lifecycle WHERE note_id = ? ORDER BY day", nid(1)) == [(1,)]


def test_unknown_metrics_stay_unknown_and_the_kol_curve_is_the_median_note(curve):
    assert curve.query(
        "SELECT read_num, like_collect, reads_beats_share FROM note_lifecycle WHERE note_id = ? AND day = 7",
        nid(2),
    ) == [(None, None, None)]
    assert curve.query(
        "SELECT day, notes, reads_median, like_collect_median FROM kol_lifecycle ORDER BY day"
    ) == [
        (1, 2, 55.0, pytest.approx((15 + 1) / 2)),
        (3, 2, 110.0, pytest.approx((30 + 3) / 2)),
        (7, 2, 800.0, 120.0),  # note 2 unknown there: the median of one
        (30, 2, 1705.0, pytest.approx((465 + 46) / 2)),
    ]


@pytest.fixture
def rising(tmp_path):
    """Five old notes (2026-01-01) and two new ones (2026-03-05), N strong and M weak, seen on days 1 and 3."""
    lab = Lab(tmp_path)
    published = {i: date(2026, 1, 1) for i in range(1, 6)} | {10: date(2026, 3, 5), 11: date(2026, 3, 5)}
    old_day1 = {i: 100 * i for i in range(1, 6)}
    old_day3 = {i: 1000 * i for i in range(1, 6)}
    settled = {i: 6000 + i for i in range(1, 6)}
    fetch_on(lab, date(2026, 1, 2), old_day1 | {10: None, 11: None}, published)
    fetch_on(lab, date(2026, 1, 4), old_day3 | {10: None, 11: None}, published)
    fetch_on(lab, date(2026, 3, 6), settled | {10: 250, 11: 50}, published)
    fetch_on(lab, date(2026, 3, 8), settled | {10: 3500, 11: 900}, published)
    return lab


def test_a_new_note_beating_most_of_the_kols_notes_at_the_same_day_is_rising(rising):
    refresh_kol_engagement(rising.conn, AS_OF)
    rows = rising.query(
        "SELECT note_id, day, latest_point, kol_notes_at_day, reads_beats_share, rising FROM note_lifecycle "
        "WHERE note_id IN (?, ?) AND day = 3 ORDER BY note_id",
        nid(10),
        nid(11),
    )
    # Day 3: 1000..5000, N 3500, M 900. N beats 1000, 2000, 3000 and 900: 4 of the 6 others.
    assert rows == [(nid(10), 3, True, 7, pytest.approx(4 / 6), True), (nid(11), 3, True, 7, 0.0, False)]
    # The old notes are no longer "taking off", however they rank.
    assert rising.query("SELECT note_id, day, kol_reads_median_at_day FROM rising_notes") == [
        (nid(10), 3, 3000.0)
    ]
    assert rising.query("SELECT day, reads_median FROM kol_lifecycle ORDER BY day") == [
        (1, 250.0),
        (3, 3000.0),
    ]


def test_too_few_notes_to_compare_make_no_rising_note(rising):
    refresh_kol_engagement(rising.conn, AS_OF, EngagementSettings(rising_min_notes=8))
    assert rising.query("SELECT count(*) FROM rising_notes") == [(0,)]


def test_a_warehouse_without_snapshots_has_empty_lifecycle_tables(tmp_path):
    lab = Lab(tmp_path)
    refresh_kol_engagement(lab.conn, AS_OF)
    assert lab.query(
        "SELECT (SELECT count(*) FROM note_lifecycle), (SELECT count(*) FROM kol_lifecycle)"
    ) == [(0, 0)]


def test_a_run_keeping_the_settled_points_equals_a_run_reading_every_snapshot(tmp_path):
    """70 days of daily fetches, the engagement run every 5 days: the run that keeps the previous
    points of settled notes and reads only recent snapshots gives the table a full read gives."""
    from pgy_pipeline.warehouse import lifecycle

    lab = Lab(tmp_path)
    start = date(2026, 1, 1)
    published = {i: date.fromordinal(start.toordinal() + 5 * i) for i in range(12)}
    settings = EngagementSettings(rising_min_notes=2)
    for d in range(71):
        day = date.fromordinal(start.toordinal() + d)
        # Note 3 is deleted on day 40: gone after two complete fetches without it.
        alive = {
            i: 100 * ((day - p).days + 1) * (i + 1)
            for i, p in published.items()
            if p <= day and (i != 3 or d < 40)
        }
        fetch_on(lab, day, alive, published)
        if d % 5 == 4:
            refresh_kol_engagement(lab.conn, day, settings)
    assert lab.query("SELECT count(*) FROM notes WHERE gone_at IS NOT NULL") == [(1,)]
    last = date.fromordinal(start.toordinal() + 70)
    assert lifecycle.refresh_lifecycle(lab.conn, last, settings) is True  # kept the settled points
    kept = lab.query("SELECT * FROM note_lifecycle ORDER BY note_id, day")
    lab.conn.execute("DROP TABLE note_lifecycle")
    assert lifecycle.refresh_lifecycle(lab.conn, last, settings) is False  # read every snapshot
    assert lab.query("SELECT * FROM note_lifecycle ORDER BY note_id, day") == kept
    assert nid(3) not in {r[1] for r in kept} and len({r[1] for r in kept}) == 11
    # A day earlier than the previous run's (a pinned clock moved back) reads everything again.
    assert lifecycle.refresh_lifecycle(lab.conn, date(2026, 2, 1), settings) is False
