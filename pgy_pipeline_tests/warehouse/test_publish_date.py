"""publishDate: the client (Python) and the warehouse (SQL) read exactly the same dates.

The rule: only a ``YYYY-MM-DD`` string that is a real calendar date is a date; anything
else present is NULL and counted (``Page.invalid_values`` (the contract's count) in the client,
``WriteStats.dates_unreadable`` in the warehouse); null or missing is NULL, not counted.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from pgy_pipeline.justoneapi.contract import parse_notes
from pgy_pipeline_tests.warehouse.lab import Lab, nid

MISSING = object()
CASES: list[tuple[Any, date | None]] = [
    ("2026-03-08", date(2026, 3, 8)),
    ("2024-02-29", date(2024, 2, 29)),
    ("20260308", None),
    ("2026/03/08", None),
    ("2026-3-8", None),
    ("2026-03-08 12:00:00", None),
    ("2026-03-08T12:00:00", None),
    ("2026-03-08Z", None),
    (" 2026-03-08", None),
    ("2026-03-08\n", None),
    ("2026-W10-7", None),
    ("08/03/2026", None),
    ("", None),
    ("2026-02-30", None),
    ("2025-02-29", None),
    ("2026-13-01", None),
    ("0000-01-01", None),
    ("２０２６-０３-０８", None),  # fullwidth digits
    (20260308, None),
    (1772928000000, None),  # epoch milliseconds
    (True, None),
    (["2026-03-08"], None),
    ({"date": "2026-03-08"}, None),
    (None, None),
    (MISSING, None),
]


def _item(i: int, value: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"noteId": nid(i)}
    if value is not MISSING:
        item["date"] = value
    return item


@pytest.fixture(scope="module")
def sql_dates(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("dates"))
    lab.fetch("kol", [[_item(i, v) for i, (v, _) in enumerate(CASES)]])
    return dict(lab.query("SELECT note_id, publish_date FROM notes")), lab.stats[-1].dates_unreadable


@pytest.mark.parametrize(("i", "value", "expected"), [(i, v, e) for i, (v, e) in enumerate(CASES)])
def test_python_and_sql_read_the_same_date(sql_dates, i, value, expected):
    notes, _, invalid = parse_notes([_item(i, value)])
    assert notes[0].publish_date == expected
    assert sql_dates[0][nid(i)] == expected
    counted = value is not None and value is not MISSING and expected is None
    assert invalid == int(counted)


def test_unreadable_dates_are_counted_alike(sql_dates):
    items = [_item(i, v) for i, (v, _) in enumerate(CASES)]
    _, _, invalid = parse_notes(items)
    assert sql_dates[1] == invalid == sum(v is not None and v is not MISSING and e is None for v, e in CASES)
