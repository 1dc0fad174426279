"""kol_engagement rebuilds only the rows whose inputs changed (warehouse/engagement_inputs.py), and
the table it leaves is the table a full rebuild writes, whatever changed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from pgy_pipeline.warehouse import engagement
from pgy_pipeline.warehouse import engagement_inputs as inputs
from pgy_pipeline.warehouse.engagement import build_kol_engagement
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline_tests.warehouse.lab import Lab, note, pages_of

AS_OF = date(2026, 3, 10)
RECENT = (AS_OF - timedelta(days=3)).isoformat()
KOLS = ("a", "b", "c")
SETTINGS = EngagementSettings()


def _notes(kol: str, reads: int = 100, count: int = 12) -> list[dict[str, Any]]:
    return [
        note(f"{kol}{i:023x}", reads=reads + i, likes=5 + i, collects=i, date=RECENT) for i in range(count)
    ]


@pytest.fixture
def lab(tmp_path) -> Lab:
    lab = Lab(tmp_path)
    for kol in KOLS:
        lab.fetch(kol, pages_of(_notes(kol)))
    lab.conn.execute(
        "INSERT INTO kols (user_id, label, added_at) SELECT u, upper(u), now() FROM unnest(['a', 'b', 'c']) t(u)"
    )
    assert build_kol_engagement(lab.conn, AS_OF, SETTINGS) == len(KOLS)
    return lab


def _table(lab: Lab) -> list[tuple[Any, ...]]:
    return lab.query("SELECT * FROM kol_engagement ORDER BY user_id")


def _full_rebuild(
    lab: Lab, as_of: date = AS_OF, settings: EngagementSettings = SETTINGS
) -> list[tuple[Any, ...]]:
    lab.conn.execute(f"DROP TABLE {inputs.TABLE}")
    build_kol_engagement(lab.conn, as_of, settings)
    return _table(lab)


def test_every_column_of_note_engagement_is_hashed_or_left_out_on_purpose(lab: Lab) -> None:
    columns = {
        r[0]
        for r in lab.query("SELECT column_name FROM duckdb_columns() WHERE table_name = 'note_engagement'")
    }

    assert columns == set(inputs.NOTE_COLUMNS) | set(inputs.NOTE_COLUMNS_LEFT_OUT)
    assert not set(inputs.NOTE_COLUMNS) & set(inputs.NOTE_COLUMNS_LEFT_OUT)


def test_a_run_with_nothing_changed_rebuilds_no_row(lab: Lab) -> None:
    before = _table(lab)

    assert build_kol_engagement(lab.conn, AS_OF, SETTINGS) == 0
    assert _table(lab) == before


def _incremental(lab: Lab, kol: str) -> None:
    """A fetch of the newest notes only, their figures unchanged: only the fetch's time is new."""
    row = lab.fetch(kol, pages_of(_notes(kol)[:8]), total=12, stop_reason="window_reached", write=False)
    lab.write([dataclasses.replace(row, is_full=False)])


CHANGES: dict[str, tuple[Callable[[Lab], object], int]] = {
    # a change -> how many KOLs' rows it puts out of date
    "a note's reads": (lambda lab: lab.fetch("a", pages_of(_notes("a", reads=500))), 1),
    "a note more": (lambda lab: lab.fetch("b", pages_of(_notes("b", count=13))), 1),
    "a note gone": (lambda lab: lab.fetch("b", pages_of(_notes("b", count=11))), 1),
    "a new KOL": (lambda lab: lab.fetch("d", pages_of(_notes("d"))), 1),
    "a KOL's every note gone": (
        lambda lab: lab.conn.execute("UPDATE notes SET gone_at = now() WHERE user_id = 'c'"),
        1,
    ),
    "a label": (lambda lab: lab.conn.execute("UPDATE kols SET label = 'A2' WHERE user_id = 'a'"), 1),
    "an incremental fetch": (lambda lab: _incremental(lab, "a"), 1),
    "two KOLs": (lambda lab: [lab.fetch(k, pages_of(_notes(k, reads=7))) for k in ("a", "c")], 2),
}


@pytest.mark.parametrize("change", CHANGES)
def test_after_a_change_only_its_kols_are_rebuilt_and_the_table_is_a_full_rebuilds(
    lab: Lab, change: str
) -> None:
    make, kols = CHANGES[change]
    before = _table(lab)
    make(lab)

    assert build_kol_engagement(lab.conn, AS_OF, SETTINGS) == kols
    after = _table(lab)
    assert after != before
    assert after == _full_rebuild(lab)


@pytest.mark.parametrize(
    "as_of, settings",
    [
        (AS_OF + timedelta(days=1), SETTINGS),
        (AS_OF, EngagementSettings(viral_low_likes=10, viral_high_likes=20)),
    ],
    ids=["another day", "other settings"],
)
def test_another_day_or_other_settings_rebuild_every_row(
    lab: Lab, as_of: date, settings: EngagementSettings
) -> None:
    assert build_kol_engagement(lab.conn, as_of, settings) == len(KOLS)
    assert _table(lab) == _full_rebuild(lab, as_of, settings)


def test_a_table_built_before_the_digests_is_rebuilt_whole(lab: Lab) -> None:
    lab.conn.execute(f"DROP TABLE {inputs.TABLE}")
    lab.conn.execute("UPDATE kol_engagement SET notes = 0")  # whatever an older version left

    assert build_kol_engagement(lab.conn, AS_OF, SETTINGS) == len(KOLS)
    assert {r[0] for r in lab.query("SELECT notes FROM kol_engagement")} == {12}


def test_each_like_threshold_is_part_of_the_key(lab: Lab) -> None:
    low_only = EngagementSettings(viral_low_likes=10)
    assert build_kol_engagement(lab.conn, AS_OF, low_only) == len(KOLS)
    both = EngagementSettings(viral_low_likes=10, viral_high_likes=12)

    assert build_kol_engagement(lab.conn, AS_OF, both) == len(KOLS)
    assert _table(lab) == _full_rebuild(lab, AS_OF, both)


def test_another_version_of_the_tables_sql_rebuilds_every_row(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An upgrade that changes a column's SQL: the rows built by the version before are all stale.
    monkeypatch.setattr(engagement, "_COLUMNS_SQL", engagement._COLUMNS_SQL + " (changed)")

    assert build_kol_engagement(lab.conn, AS_OF, SETTINGS) == len(KOLS)
