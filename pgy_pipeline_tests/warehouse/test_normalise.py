"""The SQL normaliser reads raw bodies exactly as the client's parser does."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pytest

from pgy_pipeline.justoneapi.contract import parse_notes
from pgy_pipeline.warehouse.normalise import stage_notes
from pgy_pipeline.warehouse.raw import RawPage, RawStore

ODD_NOTES = [
    {
        "noteId": "a" * 24,
        "readNum": 1142,
        "likeNum": "53",
        "collectNum": None,
        "thirdReadUserNum": "12.5",
        "isVideo": True,
        "isAdvertise": "false",
        "title": "被儿子的女神节礼物整破防了😭",
        "brandName": None,
        "imgUrl": "http://x/y.jpg",
        "date": "2026-03-08",
        "shareNumV2": 7,
    },
    {
        "noteId": "b" * 24,
        "readNum": "",
        "likeNum": True,
        "isVideo": 1,
        "isAdvertise": 0,
        "title": 42,
        "brandName": "花西子",
        "date": "08/03/2026",
    },
    {
        "noteId": "c" * 24,
        "readNum": -5,
        "likeNum": "1e3",
        "collectNum": 0,
        "thirdReadUserNum": "007",
        "isVideo": "TRUE",
        "isAdvertise": None,
        "date": None,
    },
    # flags the readers cannot read: NULL on both sides, never a failed write
    {"noteId": "d" * 24, "isVideo": "yes", "isAdvertise": 2},
    # the same note again on the same page: first sighting wins
    {"noteId": "a" * 24, "readNum": 999999},
]


def _py_rows(items):
    notes, _, _ = parse_notes(items)
    seen, out = set(), []
    for n in notes:
        if n.note_id in seen:
            continue
        seen.add(n.note_id)
        out.append(
            (
                n.note_id,
                n.title,
                n.publish_date,
                n.is_video,
                n.is_advertise,
                n.brand_name,
                n.img_url,
                n.read_num,
                n.like_num,
                n.collect_num,
                n.third_read_user_num,
            )
        )
    return sorted(out)


@pytest.fixture
def store(tmp_path):
    return RawStore(tmp_path)


def _write(store, items, page_number=1, fetch_id=None, user_id="kol"):
    fetch_id = fetch_id or store.begin(user_id, "fp", {}, "run")
    body = json.dumps(
        {"code": 0, "message": "success", "data": {"list": items, "total": len(items)}}, ensure_ascii=False
    )
    store.append(
        RawPage(
            fetch_id,
            user_id,
            page_number,
            {"userId": user_id},
            datetime.now(UTC).isoformat(),
            "run",
            200,
            0,
            "rid",
            None,
            1,
            0.1,
            body,
        )
    )
    return fetch_id


def _sql_rows(store, fetch_id, user_id="kol"):
    conn = duckdb.connect()
    path = store.fetch_file(user_id, fetch_id)
    stage_notes(conn, [path], dedupe=[path])  # these fetches repeat a note
    return sorted(
        conn.execute(
            "SELECT note_id, title, publish_date, is_video, is_advertise, brand_name, img_url, read_num, like_num, "
            "collect_num, third_read_user_num FROM _note_batch"
        ).fetchall()
    )


def test_sql_and_python_readings_agree_on_odd_values(store):
    fetch_id = _write(store, ODD_NOTES)
    assert _sql_rows(store, fetch_id) == _py_rows(ODD_NOTES)


def test_a_note_repeated_on_the_next_page_keeps_its_first_sighting(store):
    first = [{"noteId": "e" * 24, "readNum": 1}, {"noteId": "f" * 24, "readNum": 2}]
    second = [{"noteId": "f" * 24, "readNum": 3}, {"noteId": "g" * 24, "readNum": 4}]
    fetch_id = _write(store, first, 1)
    _write(store, second, 2, fetch_id)
    rows = {r[0]: r[7] for r in _sql_rows(store, fetch_id)}
    assert rows == {"e" * 24: 1, "f" * 24: 2, "g" * 24: 4}


def test_a_line_cut_by_a_crash_is_skipped(store):
    fetch_id = _write(store, [{"noteId": "e" * 24, "readNum": 1}])
    with open(store.fetch_file("kol", fetch_id), "a", encoding="utf-8") as fh:
        fh.write(
            '{"fetch_id": "x", "body": "{\\"code\\":0,\\"data\\":{\\"li'
        )  # no newline: a crash mid-write
    assert [r[0] for r in _sql_rows(store, fetch_id)] == ["e" * 24]
    assert list(store.pages("kol", fetch_id)) == [1]
