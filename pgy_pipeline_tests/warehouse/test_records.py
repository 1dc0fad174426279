"""The raw layer's lines and files and the fetches rows are the dataclasses' fields, in their
order, as ``dataclasses.asdict``/``astuple`` gave them: the shallow conversions that replaced
those (35 µs a record, deep-copying every value) change no byte."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from pgy_pipeline.warehouse.raw import _BODY_MARK, FetchMeta, RawPage, _fields, encode_line
from pgy_pipeline.warehouse.replay import fetch_row_to_json
from pgy_pipeline.warehouse.writes import FetchRow, fetch_values

PAGE = RawPage(
    "20261206T000000-abc",
    "kol_a",
    2,
    {"userId": "kol_a", "page": "2"},
    "2026-12-06T00:00:00+00:00",
    "run-1",
    200,
    0,
    "req-<1>",
    None,
    2,
    0.25,
    '{"code":0,"data":{"notes":["标题 \\u2028"]}}',
)
ROW = FetchRow(
    "20261206T000000-abc",
    "kol_a",
    "run-1",
    "ALL",
    "LATEST",
    "ALL",
    "NO",
    True,
    "complete",
    datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC),
    datetime(2026, 12, 6, 1, 2, 4, tzinfo=UTC),
    41,
    40,
    41,
    3,
    1,
    3,
    0,
    2,
    1,
    "end",
    None,
    None,
    None,
    "a 'message' <b>",
    '{"title": [41, 0, 0, 0]}',
)


def test_a_raw_line_is_the_pages_fields_in_order_then_its_exact_body() -> None:
    meta = dataclasses.asdict(PAGE)
    body = meta.pop("body")
    expected = json.dumps(meta, ensure_ascii=False)[:-1] + _BODY_MARK + body + "}\n"

    assert encode_line(PAGE) == expected
    assert list(_fields(PAGE)) == [f.name for f in dataclasses.fields(RawPage)]


def test_a_fetch_meta_file_holds_its_fields_in_order() -> None:
    meta = FetchMeta("f", "kol_a", "fp", {"note_type": "ALL"}, None, "2026-12-06T00:00:00+00:00")

    assert json.dumps(_fields(meta)) == json.dumps(dataclasses.asdict(meta))


def test_a_fetches_row_gives_its_values_and_its_json_as_before() -> None:
    assert fetch_values(ROW) == dataclasses.astuple(ROW)
    expected = dataclasses.asdict(ROW) | {
        "started_at": "2026-12-06T01:02:03+00:00",
        "finished_at": "2026-12-06T01:02:04+00:00",
    }
    assert json.dumps(fetch_row_to_json(ROW)) == json.dumps(expected)
