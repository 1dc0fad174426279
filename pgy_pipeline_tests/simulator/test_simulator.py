"""The simulator over real loopback HTTP: data, paging, filters, counters, logging."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import pickle
import re
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from pgy_pipeline.simulator import ENDPOINT_PATH, PROFILES, Profile, Simulator
from pgy_pipeline_tests.support import MakeSim

from .helpers import FIELDS, TOKEN, body, call, code_of, fetch_all


# -- data --------------------------------------------------------------------------------
def test_data_is_deterministic_per_seed_and_user(make_sim: MakeSim, session: requests.Session) -> None:
    a, b, c = make_sim(seed=1), make_sim(seed=1), make_sim(seed=2)
    assert a.expected_notes("kolA") == b.expected_notes("kolA")
    assert a.expected_notes("kolA") != c.expected_notes("kolA")
    assert a.expected_notes("kolA") != a.expected_notes("kolB")
    first = body(session, a, userId="u50")["data"]["list"]
    assert first == body(session, b, userId="u50")["data"]["list"] == a.expected_notes("u50")[:8]


def test_note_shape_matches_the_vendor(sim: Simulator) -> None:
    notes = [n for i in range(30) for n in sim.expected_notes(f"kol{i}")]
    assert len(notes) > 300
    assert all(list(n) == FIELDS for n in notes)
    assert len({n["noteId"] for n in notes}) == len(notes)
    for n in notes:
        assert re.fullmatch(r"[0-9a-f]{24}", n["noteId"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", n["date"])
        assert n["imgUrl"].startswith("http://ci.xiaohongshu.com/1040g")
        assert (n["brandName"] is not None) == n["isAdvertise"]
        assert all(type(n[m]) is int and n[m] >= 0 for m in ("readNum", "likeNum", "collectNum"))
    assert any(n["readNum"] >= 100_000 for n in notes)
    assert any(n["readNum"] == 0 for n in notes)
    assert any(n["isAdvertise"] for n in notes) and any(n["isVideo"] for n in notes)
    assert sim.note_count("u120") == 120 and sim.note_count("u0") == 0


def test_anchor_date_is_fixed_and_overridable(make_sim: MakeSim) -> None:
    sim = make_sim(anchor_date="2025-06-30")
    dates = [n["date"] for n in sim.expected_notes("u120")]
    assert dates[0] <= "2025-06-30" and dates == sorted(dates, reverse=True)


# -- paging, filters, orderings -----------------------------------------------------------
@pytest.mark.parametrize(("user", "sizes"), [("u0", [0]), ("u8", [8, 0]), ("u9", [8, 1])])
def test_pagination(sim: Simulator, session: requests.Session, user: str, sizes: list[int]) -> None:
    pages = fetch_all(session, sim, userId=user)
    assert [len(p) for p in pages] == sizes
    assert [n for p in pages for n in p] == sim.expected_notes(user)
    past_end = body(session, sim, userId=user, pageNumber=9)
    assert past_end["code"] == 0 and past_end["data"] == {"list": [], "total": len(sim.expected_notes(user))}


def test_success_envelope(sim: Simulator, session: requests.Session) -> None:
    payload = body(session, sim, userId="u9")
    assert list(payload) == ["code", "message", "data", "recordTime", "requestId"]
    assert (payload["code"], payload["message"], payload["data"]["total"]) == (0, "success", 9)
    assert payload["recordTime"] and payload["requestId"]


def test_defaults_equal_explicit_defaults(sim: Simulator, session: requests.Session) -> None:
    explicit = dict(advertiseSwitch="ALL", orderType="LATEST", noteType="ALL", isThirdPlatform="NO")
    assert (
        body(session, sim, userId="u50")["data"]
        == body(session, sim, userId="u50", pageNumber=1, **explicit)["data"]
    )


FILTER_CASES = [
    ({"advertiseSwitch": "ORGANIC_ONLY"}, lambda n: not n["isAdvertise"]),
    ({"noteType": "COOPERATION"}, lambda n: n["isAdvertise"]),
    ({"noteType": "PHOTO_TEXT"}, lambda n: not n["isVideo"]),
    ({"noteType": "VIDEO"}, lambda n: n["isVideo"]),
]


@pytest.mark.parametrize(("params", "holds"), FILTER_CASES)
def test_filters_and_totals(
    sim: Simulator, session: requests.Session, params: dict[str, str], holds: Callable[[dict[str, Any]], bool]
) -> None:
    kwargs = {re.sub(r"([A-Z])", r"_\1", k).lower(): v for k, v in params.items()}
    everything = sim.expected_notes("u120")
    expected = sim.expected_notes("u120", **kwargs)
    assert expected == [n for n in everything if holds(n)]
    assert 0 < len(expected) < len(everything)
    assert body(session, sim, userId="u120", **params)["data"]["total"] == len(expected)
    assert [n for p in fetch_all(session, sim, userId="u120", **params) for n in p] == expected


def test_third_platform_splits_the_notes(sim: Simulator, session: requests.Session) -> None:
    users = [f"kol{i}" for i in range(20)]
    no = {n["noteId"] for u in users for n in sim.expected_notes(u)}
    yes = {n["noteId"] for u in users for n in sim.expected_notes(u, is_third_platform="YES")}
    assert yes and no and not yes & no
    user = next(u for u in users if sim.note_count(u, is_third_platform="YES"))
    data = body(session, sim, userId=user, isThirdPlatform="YES")["data"]
    assert data["total"] == sim.note_count(user, is_third_platform="YES")


@pytest.mark.parametrize(
    ("order", "key"),
    [
        ("LATEST", lambda n: n["date"]),
        ("MOST_READ", lambda n: n["readNum"]),
        ("MOST_INTERACT", lambda n: n["likeNum"] + (n["collectNum"] or 0)),
    ],
)
def test_orderings(
    sim: Simulator, session: requests.Session, order: str, key: Callable[[dict[str, Any]], Any]
) -> None:
    notes = [n for p in fetch_all(session, sim, userId="u50", orderType=order) for n in p]
    assert notes == sim.expected_notes("u50", order_type=order)
    assert [key(n) for n in notes] == sorted((key(n) for n in notes), reverse=True)
    assert {n["noteId"] for n in notes} == {n["noteId"] for n in sim.expected_notes("u50")}


# -- counters, logging, server mechanics --------------------------------------------------------
def test_counters(sim: Simulator, session: requests.Session) -> None:
    for page in (1, 2, 2):
        call(session, sim, userId="u9", pageNumber=page)
    call(session, sim, userId="bad id")
    call(session, sim, token=None, userId="u8")
    session.get(sim.base_url + "/nope", timeout=5)
    counters = sim.counters()
    assert counters.calls_total == 6
    assert counters.by_code == {0: 3, 100: 1}
    assert counters.by_http_status == {200: 4, 400: 1, 404: 1}
    assert counters.by_user_page == {("u9", 1): 1, ("u9", 2): 2, ("bad id", 1): 1, ("u8", 1): 1}
    assert counters.by_user == {"u9": 3, "bad id": 1, "u8": 1}
    sim.reset_counters()
    assert sim.counters().calls_total == 0


def test_parallel_calls_are_all_counted(sim: Simulator) -> None:
    def work(worker: int) -> list[int]:
        with requests.Session() as s:
            return [code_of(s, sim, userId=f"kol{worker}", pageNumber=p) for p in range(1, 16)]

    with ThreadPoolExecutor(8) as pool:
        codes = [c for result in pool.map(work, range(8)) for c in result]
    assert codes == [0] * 120 and sim.counters().calls_total == 120


def test_token_never_reaches_the_logs(
    sim: Simulator,
    session: requests.Session,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Only the simulator's own records: urllib3 logs full URLs at DEBUG, a client-side matter.
    caplog.set_level(logging.DEBUG, logger="pgy_pipeline.simulator")
    call(session, sim, userId="u8")
    call(session, sim, userId="bad id")
    with socket.create_connection((sim.host, int(sim.base_url.rsplit(":", 1)[1])), timeout=5) as raw:
        raw.sendall(f"GET {ENDPOINT_PATH}?token={TOKEN} HTTP/1.1 junk\r\n\r\n".encode())
        assert TOKEN.encode() not in raw.recv(4096)
    assert ENDPOINT_PATH in caplog.text  # the simulator does log, just not the query
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err):
        assert TOKEN not in text and "token=" not in text


def test_keep_alive_reuses_one_connection(sim: Simulator) -> None:
    conn = http.client.HTTPConnection(sim.host, int(sim.base_url.rsplit(":", 1)[1]), timeout=5)
    try:
        for _ in range(3):
            conn.request("GET", f"{ENDPOINT_PATH}?token={TOKEN}&userId=u8")
            sock = conn.sock
            assert json.loads(conn.getresponse().read())["code"] == 0
            assert conn.sock is sock is not None
    finally:
        conn.close()


def test_lifecycle(session: requests.Session) -> None:
    with Simulator("hostile", seed=3, p_stall=0.0) as sim:
        assert sim.profile.name == "hostile" and sim.profile.dup_across_pages
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.base_url)
        url = sim.base_url
    with pytest.raises(requests.ConnectionError):
        session.get(url + ENDPOINT_PATH, timeout=2)
    foreground = Simulator()
    thread = threading.Thread(target=foreground.serve_forever, daemon=True)
    thread.start()
    for _ in range(100):
        with contextlib.suppress(RuntimeError):
            if foreground.base_url:
                break
        threading.Event().wait(0.01)
    assert code_of(session, foreground, userId="u1") == 0
    foreground.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_profiles() -> None:
    assert {"clean", "realistic", "hostile"} <= set(PROFILES)
    clean, hostile = PROFILES["clean"], PROFILES["hostile"]
    assert clean.p_301 == 0 and clean.rate_limit_per_s is None and clean.latency_s == 0
    assert hostile.p_truncated > 0 and hostile.total_drift == 1 and hostile.rate_limit_per_s == 20
    assert Simulator("clean", p_301=0.5).profile.p_301 == 0.5
    pinned = Profile(fixed_counts={"a": 1}, revoked_tokens=["x"])  # type: ignore[arg-type]
    assert pickle.loads(pickle.dumps(pinned)) == pinned and pinned.revoked_tokens == frozenset({"x"})
    with pytest.raises(ValueError):
        Profile(p_301=1.5)
    with pytest.raises(ValueError):
        Simulator("nope")
    with pytest.raises(TypeError):
        Simulator("clean", no_such_field=1)


def test_note_content_serves_hostile_text_over_http_and_in_the_truth(
    make_sim: MakeSim, session: requests.Session
) -> None:
    hostile = {"title": "<script>x()</script>", "brand_name": '"><b>', "img_url": "javascript:x()"}
    sim = make_sim("clean", fixed_counts={"u1": 30, "u2": 5}, note_content={"u1": hostile})
    served = [n for page in fetch_all(session, sim, userId="u1") for n in page]
    assert served == sim.expected_notes("u1") and len(served) == 30
    assert {(n["title"], n["imgUrl"]) for n in served} == {(hostile["title"], hostile["img_url"])}
    # A brand only where the platform puts one: on cooperation notes.
    assert {n["brandName"] for n in served if n["isAdvertise"]} == {hostile["brand_name"]}
    assert {n["brandName"] for n in served if not n["isAdvertise"]} <= {None}
    assert all(n["title"] != hostile["title"] for n in sim.expected_notes("u2"))
    with pytest.raises(ValueError, match="may replace title, brand_name, img_url, not readNum"):
        Profile(note_content={"u1": {"readNum": "1"}})


def test_simulated_quotes_are_a_valid_prices_file_and_leave_some_kols_unpriced() -> None:
    from datetime import date

    from pgy_pipeline.simulator.market import quoted_prices
    from pgy_pipeline.warehouse.prices import parse_prices

    users = [f"u{i}" for i in range(50)]
    text = quoted_prices(0, users, date(2026, 12, 1))
    assert text == quoted_prices(0, users, date(2026, 12, 1))  # deterministic
    prices = parse_prices(text)
    priced = {p.user_id for p in prices}
    assert 25 <= len(priced) < 50 and len(prices) == 2 * len(priced)
    assert {p.price_type for p in prices} == {"photo_note", "video_note"} and all(p.price > 0 for p in prices)
