"""The simulated world over time: notes appear, counts grow and settle, a few notes go."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import requests

from pgy_pipeline.simulator import Simulator
from pgy_pipeline.simulator.timeline import DELETED_SHARE, timeline, today_cst
from pgy_pipeline_tests.simulator_process import set_as_of
from pgy_pipeline_tests.support import MakeSim

from .helpers import FIELDS, body, call, fetch_all

DAY = date(2026, 6, 1)
USERS = [f"kol{i}" for i in range(40)]
METRICS = ("readNum", "likeNum", "collectNum", "thirdReadUserNum")


def _days(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def test_same_seed_and_day_give_the_same_bodies(make_sim: MakeSim, session: requests.Session) -> None:
    a, b = make_sim(seed=3, as_of=DAY), make_sim(seed=3, as_of=DAY)
    later = make_sim(seed=3, as_of=DAY + timedelta(days=20))
    for user in ("kolA", "kolB", "u50"):
        assert a.expected_notes(user) == b.expected_notes(user)
        assert body(session, a, userId=user)["data"] == body(session, b, userId=user)["data"]
    assert a.expected_notes("kolA") != later.expected_notes("kolA")
    # The truth for any day, without HTTP and without moving the simulator's clock.
    assert a.expected_notes("kolA", as_of=later.as_of) == later.expected_notes("kolA")
    assert Simulator(seed=3).expected_notes("kolA", as_of=DAY) == a.expected_notes("kolA")


def test_new_notes_appear_as_the_clock_moves(make_sim: MakeSim) -> None:
    sim = make_sim(as_of=DAY)
    before = {u: {n["noteId"] for n in sim.expected_notes(u)} for u in USERS}
    after_day = DAY + timedelta(days=28)
    new = 0
    for user in USERS:
        later = sim.expected_notes(user, as_of=after_day)
        fresh = [n for n in later if n["noteId"] not in before[user]]
        assert all(n["date"] > DAY.isoformat() for n in fresh)
        new += len(fresh)
    # One note every 1-10 days per active KOL: a few new notes each over four weeks.
    assert len(USERS) < new < len(USERS) * 28
    assert sum(map(len, before.values())) > 10 * len(USERS)
    before_ref = sum(sim.note_count(u, as_of="2020-01-01") for u in USERS)
    assert before_ref < sum(map(len, before.values()))


def test_pinned_counts_hold_on_the_start_day_and_grow_after(make_sim: MakeSim) -> None:
    sim = make_sim(as_of=DAY)
    assert sim.note_count("u50") == 50 and sim.note_count("u0") == 0
    assert sim.note_count("u50", as_of=DAY + timedelta(days=60)) > 50
    assert sim.note_count("u50", as_of=DAY - timedelta(days=60)) < 50
    sim.update(as_of=DAY + timedelta(days=60))
    assert sim.note_count("u50") > 50 and sim.note_count("u0") == 0
    # The 50 notes of the start day are still there: moving the clock only adds.
    old = {n["noteId"] for n in sim.expected_notes("u50", as_of=DAY)}
    assert old <= {n["noteId"] for n in sim.expected_notes("u50")}


def _series(sim: Simulator, user: str, days: list[date]) -> dict[str, list[dict[str, Any]]]:
    series: dict[str, list[dict[str, Any]]] = {}
    for day in days:
        for note in sim.expected_notes(user, as_of=day):
            series.setdefault(note["noteId"], []).append(note)
    return series


def test_metrics_grow_monotonically_and_settle(make_sim: MakeSim) -> None:
    sim = make_sim()
    days = _days(DAY, 40)
    early = late = 0
    for user in USERS[:15]:
        for snaps in _series(sim, user, days).values():
            for metric in METRICS:
                values = [s[metric] for s in snaps]
                assert all(type(v) is int for v in values if v is not None)
                assert values == sorted(values, key=lambda v: -1 if v is None else v)
            first = date.fromisoformat(snaps[0]["date"])
            if first > DAY and len(snaps) >= 34:  # seen from its publish day for 34 days
                early += snaps[3]["readNum"] - snaps[0]["readNum"]
                late += snaps[33]["readNum"] - snaps[30]["readNum"]
    assert early > 0 and early > 50 * late


def test_deleted_notes_disappear_on_their_deletion_date(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(seed=0, as_of=DAY)
    lives = {u: timeline(0, u, None, None, 0.0).lives(DAY) for u in USERS}
    gone = [(u, n) for u in USERS for n in lives[u] if n.deleted_on is not None]
    assert 0.002 < len(gone) / sum(map(len, lives.values())) < 3 * DELETED_SHARE
    user, note = gone[0]

    def served(day: date) -> bool:
        sim.update(as_of=day)
        pages = fetch_all(
            session, sim, userId=user, isThirdPlatform="YES" if note.final.third_platform else "NO"
        )
        return note.final.note_id in {n["noteId"] for p in pages for n in p}

    assert note.deleted_on is not None
    assert served(note.published)
    assert served(note.deleted_on - timedelta(days=1))
    assert not served(note.deleted_on)
    assert not served(note.deleted_on + timedelta(days=30))


def test_latest_is_newest_first_on_a_moved_clock(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(as_of=DAY)
    sim.update(as_of=DAY + timedelta(days=45))
    for user in ("kol1", "kol2", "u120"):
        notes = [n for p in fetch_all(session, sim, userId=user, orderType="LATEST") for n in p]
        assert notes == sim.expected_notes(user)
        keys = [(n["date"], n["noteId"]) for n in notes]
        assert keys == sorted(keys, reverse=True)
        assert notes[0]["date"] <= sim.as_of.isoformat()
        # noteId starts with the publish time, so it orders notes within a day too.
        assert [k[1] for k in keys] == sorted((k[1] for k in keys), reverse=True)


def test_most_read_follows_the_metrics_of_the_day(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(as_of=DAY)
    # A KOL with a note published the day before: it still climbs the MOST_READ ranking.
    user = next(u for u in USERS if any(n["date"] == "2026-05-31" for n in sim.expected_notes(u)))
    orders = []
    for day in (DAY, DAY + timedelta(days=5)):
        sim.update(as_of=day)
        notes = [n for p in fetch_all(session, sim, userId=user, orderType="MOST_READ") for n in p]
        assert notes == sim.expected_notes(user, order_type="MOST_READ")
        assert [n["readNum"] for n in notes] == sorted((n["readNum"] for n in notes), reverse=True)
        orders.append([n["noteId"] for n in notes])
    assert [i for i in orders[1] if i in orders[0]] != orders[0]


def _first_good_page(session: requests.Session, sim: Simulator, **params: Any) -> list[dict[str, Any]]:
    # Faulty profiles answer some calls with errors or cut bodies: ask again, as a client would.
    for _ in range(60):
        try:
            payload = call(session, sim, **params).json()
        except (ValueError, requests.RequestException):
            continue
        if payload.get("code") == 0:
            return list(payload["data"]["list"])
    raise AssertionError("no successful page in 60 calls")


@pytest.mark.parametrize("profile", ["clean", "realistic", "hostile"])
def test_every_profile_serves_on_a_moved_clock(
    make_sim: MakeSim, session: requests.Session, profile: str
) -> None:
    sim = make_sim(profile, as_of=DAY, latency_s=0.0, p_stall=0.0, rate_limit_per_s=None)
    for day in (DAY + timedelta(days=10), DAY + timedelta(days=400)):
        sim.update(as_of=day)
        for third in ("NO", "YES"):
            page = _first_good_page(session, sim, userId="kol3", isThirdPlatform=third)
            truth = sim.expected_notes("kol3", is_third_platform=third)[: sim.profile.page_size]
            got = [
                {k: int(n[k]) if k in METRICS and n[k] is not None else n[k] for k in FIELDS} for n in page
            ]
            assert got == truth
        no = {n["noteId"] for n in sim.expected_notes("kol3")}
        yes = {n["noteId"] for n in sim.expected_notes("kol3", is_third_platform="YES")}
        assert no and not no & yes


def test_clock_defaults_to_today_in_shanghai_and_moves_over_http(
    make_sim: MakeSim, session: requests.Session
) -> None:
    assert Simulator().as_of == today_cst()
    assert Simulator(anchor_date="2025-06-30").as_of == date(2025, 6, 30)
    sim = make_sim(as_of=DAY)
    clock = sim.base_url + "/__simulator/clock"
    assert session.get(clock, timeout=5).json() == {"as_of": DAY.isoformat()}
    set_as_of(sim.base_url, DAY + timedelta(days=7))
    assert sim.as_of == DAY + timedelta(days=7)
    assert session.get(clock, timeout=5).json() == {"as_of": "2026-06-08"}
    assert session.post(clock, params={"as_of": "June"}, timeout=5).status_code == 400
    assert sim.profile.counts_on == DAY  # pinned counts still hold on the start day
