"""The data contract, one rule per test: each field's reading, the counts per field, and what drift is."""

from __future__ import annotations

from typing import Any

import pytest

from pgy_pipeline.justoneapi.contract import (
    NOTE_FIELDS,
    RULES,
    FieldCounts,
    NoteShapeError,
    parse_note,
    read_count,
    read_date,
    read_flag,
    read_total,
)
from pgy_pipeline.justoneapi.drift import (
    DRIFT_MIN_NOTES,
    EXAMPLE_CHARS,
    envelope_drift,
    example,
    judge_page,
)
from pgy_pipeline.justoneapi.redaction import register_secret

from .helpers import vendor_note


def _page(notes: list[dict[str, Any]]) -> FieldCounts:
    counts = FieldCounts()
    for item in notes:
        parse_note(item, counts)
    return counts


def _notes(n: int = 8, **fields: Any) -> list[dict[str, Any]]:
    return [vendor_note(f"{i:024x}", **fields) for i in range(n)]


def test_every_note_field_of_the_vendor_is_in_the_contract_with_a_column_and_a_null_share() -> None:
    assert set(NOTE_FIELDS) == set(vendor_note())
    assert {r.column for r in RULES.values()} >= {"read_num", "publish_date", "brand_name", "note_id"}
    assert all(0.0 <= r.null_normal <= 1.0 for r in RULES.values())


def test_null_is_a_value_of_brand_name_only() -> None:
    assert [name for name, r in RULES.items() if r.null_normal == 1.0] == ["brandName"]


def test_a_count_is_an_integer_or_a_string_of_digits() -> None:
    assert read_count(1142) == 1142 and read_count("1142") == 1142 and read_count(None) is None
    for bad in (True, 7.0, "12.5", "1e3", "", "1,142"):
        with pytest.raises(ValueError):
            read_count(bad)


def test_a_flag_is_a_boolean_a_boolean_string_or_0_1() -> None:
    assert (read_flag(True), read_flag("FALSE"), read_flag(1)) == (True, False, True)
    with pytest.raises(ValueError):
        read_flag(2)


def test_a_date_is_a_real_yyyy_mm_dd_day() -> None:
    assert str(read_date("2026-03-08")) == "2026-03-08"
    for bad in ("2026-02-30", "20260308", 1772899200000, "2026-03-08 12:00:00"):
        with pytest.raises(ValueError):
            read_date(bad)


def test_a_missing_or_unreadable_total_is_no_total() -> None:
    assert read_total("30") == 30 and read_total(None) is None and read_total("many") is None


def test_a_missing_key_is_counted_apart_from_a_null() -> None:
    item = vendor_note(likeNum=None)
    del item["readNum"]
    counts = _page([item])
    assert counts.missing == {"readNum": 1} and counts.null == {"likeNum": 1, "brandName": 1}


def test_an_unreadable_value_is_none_counted_per_field_with_its_example() -> None:
    counts = FieldCounts()
    note = parse_note(vendor_note(date="08/03/2026", isVideo="yes"), counts)
    assert (note.publish_date, note.is_video, note.read_num) == (None, None, 1142)
    assert counts.unreadable == {"date": 1, "isVideo": 1}
    assert counts.examples["date"] == "08/03/2026" and "YYYY-MM-DD" in counts.expected["date"]


def test_new_keys_are_kept_and_counted() -> None:
    counts = FieldCounts()
    note = parse_note(vendor_note(shareNumV2=5), counts)
    assert note.extra == {"shareNumV2": 5} and counts.new == {"shareNumV2": 1}


def test_an_entry_without_a_note_id_is_no_note() -> None:
    with pytest.raises(NoteShapeError):
        parse_note({"title": "no id"}, FieldCounts())


def test_one_bad_note_in_a_page_is_data_not_drift() -> None:
    notes = [*_notes(7), vendor_note("f" * 24, date=1772899200000, readNum="n/a")]
    assert judge_page(_page(notes)) is None


def test_nulls_on_every_note_are_data_not_drift() -> None:
    assert judge_page(_page(_notes(readNum=None, collectNum=None))) is None


def test_a_field_missing_on_most_notes_is_drift_naming_its_successor() -> None:
    notes = _notes()
    for n in notes:
        n["readCount"] = n.pop("readNum")
    drift = judge_page(_page(notes))
    assert drift is not None and drift.changes == (("readNum", "missing"),)
    assert drift.detail == "readNum missing on 8 of 8 notes; new field readCount (e.g. 1142)"


def test_a_field_unreadable_on_most_notes_is_drift_with_the_expected_format() -> None:
    drift = judge_page(_page(_notes(date=1772899200000)))
    assert drift is not None and drift.changes == (("date", "unreadable"),)
    assert "expected a YYYY-MM-DD date, got e.g. 1772899200000" in drift.detail


def test_a_page_too_small_is_never_judged() -> None:
    assert judge_page(_page(_notes(DRIFT_MIN_NOTES - 1, date=1772899200000))) is None


def test_the_same_drift_has_the_same_key_whatever_the_values() -> None:
    one = judge_page(_page(_notes(date=1)))
    other = judge_page(_page(_notes(3, date=99, title="x")))
    assert one is not None and other is not None and one.key == other.key == "date:unreadable"


def test_a_data_without_list_names_what_it_holds() -> None:
    drift = envelope_drift({"items": [1, 2], "total": 2})
    assert drift.changes == (("data.list", "missing"),)
    assert drift.detail == "data.list missing: data holds items (a list of 2), total (e.g. 2)"


def test_an_example_is_one_short_line_without_the_token() -> None:
    register_secret("tok-CONTRACT-SECRET-91")
    text = example("line one\nline two " + "x" * 33 + "tok-CONTRACT-SECRET-91")  # cut inside the token
    assert "\n" not in text and len(text) <= EXAMPLE_CHARS and "tok-CO" not in text
