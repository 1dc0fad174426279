"""The notes upsert: the newest sighting wins, a NULL never hides a known value, order does not matter."""

from __future__ import annotations

from datetime import date
from typing import Any

from pgy_pipeline_tests.warehouse.lab import Lab, nid, note

KOL = "kol"
METRICS = "SELECT read_num, like_num, collect_num, third_read_user_num FROM notes WHERE note_id = ?"


def test_a_null_metric_keeps_the_last_known_value_and_the_snapshot_keeps_the_null(tmp_path):
    lab = Lab(tmp_path)
    lab.fetch(KOL, [[note(1, reads=100, likes=10, collects=5)]])
    lab.fetch(KOL, [[note(1, reads=None, likes=12, collects="12.5", thirdReadUserNum=None)]])
    assert lab.query(METRICS, nid(1)) == [(100, 12, 5, 0)]
    snaps = lab.query(
        "SELECT read_num, like_num, collect_num, third_read_user_num FROM note_snapshots ORDER BY fetched_at"
    )
    assert snaps == [(100, 10, 5, 0), (None, 12, None, None)]


def test_null_metrics_are_counted_per_fetch_and_reach_the_caller(tmp_path):
    lab = Lab(tmp_path)
    row = lab.fetch(KOL, [[note(1, reads=None), note(2, likes="n/a"), {"noteId": nid(3)}]])
    stats = lab.stats[-1]
    assert stats.null_metrics == 1 + 1 + 4
    assert stats.null_metrics_by_user == {KOL: 6}
    assert lab.query("SELECT null_metrics FROM fetches WHERE fetch_id = ?", row.fetch_id) == [(6,)]


def test_an_older_sighting_written_later_never_overwrites_the_newer_one(tmp_path):
    lab = Lab(tmp_path)
    old = lab.fetch(KOL, [[note(1, reads=100, title="old title")]], write=False)
    new = lab.fetch(KOL, [[note(1, reads=500, title="new title")]])
    lab.write([old])  # e.g. a replay of a fetch that failed to write at the time
    assert lab.query(
        "SELECT title, read_num, last_seen_at, last_fetch_id, first_seen_at FROM notes WHERE note_id = ?",
        nid(1),
    ) == [("new title", 500, new.started_at, new.fetch_id, old.started_at)]


def test_an_older_sighting_fills_a_metric_the_newer_one_lacked(tmp_path):
    lab = Lab(tmp_path)
    first = lab.fetch(KOL, [[note(1, reads=100)]], write=False)
    middle = lab.fetch(KOL, [[note(1, reads=200)]], write=False)
    last = lab.fetch(KOL, [[note(1, reads=None, likes=99)]], write=False)
    for row in (first, last, middle):  # out of order: the answer is the one of the in-order writes
        lab.write([row])
    assert lab.query(METRICS, nid(1)) == [(200, 99, 5, 0)]


DESCRIPTIVE = (
    "SELECT title, publish_date, is_video, is_advertise, brand_name, img_url FROM notes WHERE note_id = ?"
)
KNOWN: dict[str, Any] = {
    "title": "t",
    "date": "2026-02-01",
    "isVideo": True,
    "isAdvertise": True,
    "brandName": "B",
    "imgUrl": "u",
}


def test_no_stored_value_is_overwritten_by_a_null_or_an_unreadable_value(tmp_path):
    lab = Lab(tmp_path)
    lab.fetch(KOL, [[note(1, **KNOWN)]])
    before = lab.query(DESCRIPTIVE, nid(1))
    lab.fetch(
        KOL, [[note(1, title=None, date=1772899200000, isVideo="?", isAdvertise=None, brandName=7, imgUrl=5)]]
    )
    lab.fetch(KOL, [[{"noteId": nid(1), "readNum": 150}]])  # every other key missing
    assert lab.query(DESCRIPTIVE, nid(1)) == before
    assert lab.query(METRICS, nid(1)) == [(150, 10, 5, 0)]


def test_an_older_sighting_fills_a_value_a_newer_one_lacked_whatever_the_write_order(tmp_path):
    lab = Lab(tmp_path)
    old = lab.fetch(KOL, [[note(1, **KNOWN)]], write=False)
    new = lab.fetch(KOL, [[note(1, title=None, date="soon", imgUrl=None)]], write=False)
    lab.write([new])
    lab.write([old])  # a replay of a fetch that failed to write at the time
    assert lab.query(DESCRIPTIVE, nid(1))[0][:2] == ("t", date(2026, 2, 1))
