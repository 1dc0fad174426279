"""The gone rule: a note is gone only when two consecutive complete fetches of its scope missed it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pgy_pipeline.warehouse import queries
from pgy_pipeline_tests.warehouse.lab import Lab, nid, note, pages_of

KOL = "kol"
NOTES = [note(i) for i in range(30)]


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    lab.fetch(KOL, pages_of(NOTES))
    return lab


def test_one_empty_answer_with_total_zero_marks_nothing_gone(lab):
    lab.fetch(KOL, [[]], total=0, stop_reason="empty_page")  # the API's glitch, read as complete
    assert lab.gone(KOL) == {}


def test_an_empty_first_page_against_its_total_marks_nothing_gone(lab):
    for _ in range(3):  # stored as incomplete by the client: never evidence
        lab.fetch(KOL, [[]], total=30, status="incomplete", stop_reason="short_of_total")
    assert lab.gone(KOL) == {}


def test_a_note_missing_from_two_consecutive_complete_fetches_is_gone_at_the_end_of_the_second(lab):
    kept = NOTES[:27]
    first = lab.fetch(KOL, pages_of(kept))
    assert lab.gone(KOL) == {} and lab.stats[-1].marked_gone == 0
    second = lab.fetch(KOL, pages_of(kept), order_type="MOST_READ")  # the order does not narrow
    assert first.started_at is not None
    assert lab.gone(KOL) == {nid(i): second.finished_at for i in range(27, 30)}
    assert lab.stats[-1].marked_gone == 3 and lab.stats[-1].gone_by_user == {KOL: 3}
    lab.fetch(KOL, pages_of(kept))  # a third fetch keeps the first evidence's time
    assert set(lab.gone(KOL).values()) == {second.finished_at}
    assert lab.query("SELECT count(*) FROM notes")[0][0] == 30  # nothing deleted


def test_a_glitch_between_two_complete_fetches_does_not_count(lab):
    kept = NOTES[:29]
    lab.fetch(KOL, pages_of(kept))
    lab.fetch(KOL, [[]], total=29, status="incomplete", stop_reason="short_of_total")
    assert lab.gone(KOL) == {}
    lab.fetch(KOL, pages_of(kept))
    assert set(lab.gone(KOL)) == {nid(29)}


@pytest.mark.parametrize(
    "narrowing",
    [
        {"advertise_switch": "ORGANIC_ONLY"},
        {"note_type": "VIDEO"},
        {"status": "incomplete", "stop_reason": "page_cap"},
        {"status": "incomplete", "stop_reason": "window_reached"},
        {"status": "failed"},
    ],
)
def test_filtered_incomplete_or_failed_fetches_are_never_evidence(lab, narrowing):
    for _ in range(3):
        lab.fetch(KOL, pages_of(NOTES[:5]), **narrowing)
    assert lab.gone(KOL) == {}


def test_a_note_seen_again_comes_back_with_its_history(lab):
    lab.fetch(KOL, pages_of(NOTES[1:]))
    lab.fetch(KOL, pages_of(NOTES[1:]))
    assert set(lab.gone(KOL)) == {nid(0)}
    lab.fetch(KOL, pages_of(NOTES[:1]), advertise_switch="ORGANIC_ONLY")  # any sighting revives it
    assert lab.gone(KOL) == {} and lab.stats[-1].revived == 1
    history = lab.query("SELECT count(*) FROM note_snapshots WHERE note_id = ?", nid(0))[0][0]
    assert history == 2  # the first fetch and the filtered one


def test_third_platform_notes_are_only_judged_by_third_platform_fetches(lab):
    third = [note(100 + i) for i in range(4)]
    lab.fetch(KOL, pages_of(third), third_platform=True)
    assert dict(lab.query("SELECT scope, count(*) FROM notes GROUP BY scope")) == {
        "default": 30,
        "third_platform": 4,
    }
    for _ in range(2):  # default fetches do not list them: that says nothing about them
        lab.fetch(KOL, pages_of(NOTES))
    assert lab.gone(KOL) == {}
    for _ in range(2):  # nor do third-platform fetches say anything about default notes
        lab.fetch(KOL, pages_of(third[1:]), third_platform=True)
    assert set(lab.gone(KOL)) == {nid(100)}


def test_a_note_ever_seen_in_the_default_listing_is_default(lab):
    lab.fetch(KOL, pages_of(NOTES[:2]), third_platform=True)
    scopes = dict(lab.query("SELECT note_id, scope FROM notes WHERE note_id IN (?, ?)", nid(0), nid(1)))
    assert set(scopes.values()) == {"default"}
    snaps = lab.query("SELECT scope, count(*) FROM note_snapshots WHERE note_id = ? GROUP BY scope", nid(0))
    assert sorted(snaps) == [("default", 1), ("third_platform", 1)]


def test_engagement_covers_the_default_scope(lab):
    lab.fetch(KOL, pages_of([note(200, reads=10**6, date=date.today().isoformat())]), third_platform=True)
    assert lab.query("SELECT count(*), max(read_num) FROM note_engagement") == [(30, 100)]
    assert lab.query("SELECT count(*) FROM kol_recent_notes WHERE note_id = ?", nid(200)) == [(0,)]


def test_gone_marks_the_api_proved_wrong_are_counted_per_kol(lab):
    window = timedelta(days=30)
    assert queries.kols_with_reversed_gone_marks(lab.conn, window)[0] == 0
    # One missing answer, then back: never marked, so not counted.
    lab.fetch(KOL, pages_of(NOTES[1:]))
    lab.fetch(KOL, pages_of(NOTES))
    assert queries.kols_with_reversed_gone_marks(lab.conn, window)[0] == 0
    # Two complete listings without notes 0 and 1 (marked gone), then both listed again.
    lab.fetch(KOL, pages_of(NOTES[2:]))
    lab.fetch(KOL, pages_of(NOTES[2:]))
    assert set(lab.gone(KOL)) == {nid(0), nid(1)}
    lab.fetch(KOL, pages_of(NOTES))
    assert lab.gone(KOL) == {}
    # A note really deleted stays gone and is not counted; other KOLs are not either.
    lab.fetch("other", pages_of(NOTES[:3]))
    lab.fetch("other", pages_of(NOTES[:2]))
    lab.fetch("other", pages_of(NOTES[:2]))
    notes, per_kol = queries.kols_with_reversed_gone_marks(lab.conn, window)
    assert notes == 2
    assert per_kol[["user_id", "notes_returned"]].values.tolist() == [[KOL, 2]]
    # Incomplete or filtered fetches are no evidence, so their gaps are no reversal either.
    lab.fetch("third", pages_of(NOTES[:3]))
    lab.fetch("third", pages_of(NOTES[:2]), status="incomplete", stop_reason="page_cap")
    lab.fetch("third", pages_of(NOTES[:2]), advertise_switch="ORGANIC_ONLY")
    lab.fetch("third", pages_of(NOTES[:3]))
    assert queries.kols_with_reversed_gone_marks(lab.conn, window)[0] == 2
    # Outside the window (back from the newest fetch), a reversal no longer counts.
    lab.tick(minutes=60 * 24 * 31)
    lab.fetch("later", pages_of(NOTES[:1]))
    assert queries.kols_with_reversed_gone_marks(lab.conn, window)[0] == 0
