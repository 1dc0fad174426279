"""Every business code and fault the simulator can produce, over real loopback HTTP."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

import pytest
import requests

from pgy_pipeline.simulator import ENDPOINT_PATH, Simulator
from pgy_pipeline_tests.support import MakeSim

from .helpers import FIELDS, TOKEN, body, call, code_of, fetch_all


# -- business codes -------------------------------------------------------------------------
def test_token_codes(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(revoked_tokens={"old"}, valid_tokens={TOKEN, "old"})
    missing = body(session, sim, token=None, userId="u8")
    assert missing == {**missing, "code": 100, "message": "Invalid or Inactive Token", "data": None}
    assert code_of(session, sim, token="", userId="u8") == 100
    assert code_of(session, sim, token="old", userId="u8") == 100
    assert code_of(session, sim, token="stranger", userId="u8") == 100
    assert code_of(session, sim, userId="u8") == 0


def test_301_looks_as_observed(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(p_301=1.0)
    payload = body(session, sim, userId="u8")
    assert {k: payload[k] for k in ("code", "data", "message", "recordTime")} == {
        "code": 301,
        "data": None,
        "message": "FAILED, RETRY",
        "recordTime": None,
    }
    sim.update(p_301=0.0)
    assert code_of(session, sim, userId="u8") == 0


def test_rate_limit_302_with_retry_after(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(rate_limit_per_s=2.0)
    responses = [call(session, sim, userId="u8") for _ in range(4)]
    codes = [r.json()["code"] for r in responses]
    assert codes[:2] == [0, 0] and 302 in codes[2:]
    limited = responses[codes.index(302)]
    assert limited.status_code == 200 and limited.headers["Retry-After"] == "1"
    assert limited.json()["message"] == "Rate Limit Exceeded"
    assert code_of(session, sim, token="other-token", userId="u8") == 0  # buckets are per token


def test_daily_quota_303_and_balance_601(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(daily_quota=3)
    assert [code_of(session, sim, userId="u8") for _ in range(5)] == [0, 0, 0, 303, 303]
    sim.reset_usage()
    assert code_of(session, sim, userId="u8") == 0
    sim = make_sim(balance=2, user_codes={"broken": 500})
    # Failed calls are not charged: only the two successes spend the balance.
    assert code_of(session, sim, userId="broken") == 500
    assert [code_of(session, sim, userId="u8") for _ in range(3)] == [0, 0, 601]
    assert code_of(session, sim, token="rich", userId="u8") == 0


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "userId"),
        ({"userId": ""}, "userId"),
        ({"userId": "u8", "advertiseSwitch": "SOME"}, "advertiseSwitch"),
        ({"userId": "u8", "orderType": "latest"}, "orderType"),
        ({"userId": "u8", "noteType": "REEL"}, "noteType"),
        ({"userId": "u8", "isThirdPlatform": "MAYBE"}, "isThirdPlatform"),
        ({"userId": "u8", "pageNumber": "0"}, "pageNumber"),
        ({"userId": "u8", "pageNumber": "two"}, "pageNumber"),
    ],
)
def test_400_envelope_names_the_parameter(
    sim: Simulator, session: requests.Session, params: dict[str, str], named: str
) -> None:
    payload = body(session, sim, **params)
    assert payload["code"] == 400 and payload["data"] is None
    assert named in payload["message"]


@pytest.mark.parametrize("user_id", ["bad id", "x" * 65, "名字", "a;b"])
def test_400_framework_body_for_malformed_user_id(
    sim: Simulator, session: requests.Session, user_id: str
) -> None:
    response = call(session, sim, userId=user_id)
    assert response.status_code == 400
    assert response.json() == {
        **response.json(),
        "status": 400,
        "error": "Bad Request",
        "path": ENDPOINT_PATH,
    }
    assert "code" not in response.json() and TOKEN not in response.text


def test_500_600_and_forced_codes(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(forbidden_users={"private"}, user_codes={"odd": 503, "weird": 999, "u9": 301})
    assert code_of(session, sim, userId="private") == 600
    assert body(session, sim, userId="odd")["message"] == "Error 503"
    assert code_of(session, sim, userId="weird") == 999
    assert code_of(session, sim, userId="u9") == 301
    sim.update(p_500=1.0)
    assert body(session, sim, userId="u8")["message"] == "Internal Server Error"
    assert sim.counters().by_code == {600: 1, 503: 1, 999: 1, 301: 1, 500: 1}


# -- transport faults -------------------------------------------------------------------------
def test_http_429_503_and_html_502(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(p_http_429=1.0, retry_after_s=3)
    response = call(session, sim, userId="u8")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "3")
    assert response.json()["status"] == 429
    sim.update(p_http_429=0.0, p_http_503=1.0)
    assert call(session, sim, userId="u8").status_code == 503
    sim.update(p_http_503=0.0, p_html_502=1.0)
    response = call(session, sim, userId="u8")
    assert response.status_code == 502 and response.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text
    with pytest.raises(ValueError):
        response.json()
    counters = sim.counters()
    assert counters.by_http_status == {429: 1, 503: 1, 502: 1} and counters.by_code == {}


def test_truncated_body_has_honest_length(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(p_truncated=1.0)
    response = call(session, sim, userId="u50")
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) > 0
    assert response.content.startswith(b'{"code":0,')
    with pytest.raises(ValueError):
        json.loads(response.content)
    assert sim.counters().faults == {"truncated": 1}


def test_stall_beats_a_short_read_timeout(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(p_stall=1.0, stall_s=1.0, stall_drop_share=0.0)
    with pytest.raises(requests.ReadTimeout):
        call(session, sim, timeout=0.2, userId="u8")
    sim.update(stall_s=0.05, stall_drop_share=1.0)
    with pytest.raises(requests.ConnectionError):
        call(requests.Session(), sim, userId="u8")
    sim.update(stall_drop_share=0.0)
    assert code_of(requests.Session(), sim, userId="u8") == 0
    assert sim.counters().faults == {"stall": 3, "stall_drop": 1}


def test_string_numbers(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(p_string_numbers=1.0)
    notes = body(session, sim, userId="u8")["data"]["list"]
    assert all(isinstance(n["readNum"], str) and isinstance(n["likeNum"], str) for n in notes)
    truth = sim.expected_notes("u8")
    assert [int(n["readNum"]) for n in notes] == [n["readNum"] for n in truth]
    assert sim.counters().faults == {"string_numbers": 1}


def test_null_metrics_are_part_of_the_truth(make_sim: MakeSim, session: requests.Session) -> None:
    sim, twin, plain = make_sim(null_metric_share=0.3), make_sim(null_metric_share=0.3), make_sim()
    truth = sim.expected_notes("u120")
    nulls = [n for n in truth if n["collectNum"] is None or n["thirdReadUserNum"] is None]
    assert 15 < len(nulls) < 60
    assert twin.expected_notes("u120") == truth
    assert [n for p in fetch_all(session, sim, userId="u120") for n in p] == truth
    # Only the nulled fields differ from the same seed without nulls.
    for with_null, without in zip(truth, plain.expected_notes("u120"), strict=True):
        assert {k for k in FIELDS if with_null[k] != without[k]} <= {"collectNum", "thirdReadUserNum"}
    assert sim.counters().faults["null_metric"] > 0


def test_extra_fields_are_sent_but_not_truth(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(extra_fields=True)
    data = body(session, sim, userId="u8")["data"]
    assert "cursorV2" in data
    assert all({"shareNumV2", "xsecToken"} <= set(n) for n in data["list"])
    assert [{k: n[k] for k in FIELDS} for n in data["list"]] == sim.expected_notes("u8")


@pytest.mark.parametrize("user", ["u0", "u7", "u8", "u9", "u15", "u16", "u50"])
def test_dup_across_pages_still_covers_the_truth(
    make_sim: MakeSim, session: requests.Session, user: str
) -> None:
    sim = make_sim(dup_across_pages=True)
    pages = fetch_all(session, sim, userId=user)
    for before, after in itertools.pairwise(pages):
        if before and after:
            assert after[0] == before[-1]
    seen: dict[str, dict[str, Any]] = {}
    for note in (n for p in pages for n in p):
        seen.setdefault(note["noteId"], note)
    assert list(seen.values()) == sim.expected_notes(user)


@pytest.mark.parametrize(("down", "low"), [(False, 0), (True, -2)])
def test_total_drift(make_sim: MakeSim, session: requests.Session, down: bool, low: int) -> None:
    sim = make_sim(total_drift=2, total_drift_down=down)
    drifts = {body(session, sim, userId="u50")["data"]["total"] - 50 for _ in range(40)}
    assert drifts <= set(range(low, 3)) and len(drifts) > 1


def test_a_listing_that_leaves_out_live_notes_agrees_with_itself_all_day(
    make_sim: MakeSim, session: requests.Session
) -> None:
    sim = make_sim(fixed_counts={"u50": 50}, as_of="2026-06-01", p_note_omitted=0.1)
    truth = {n["noteId"] for n in sim.expected_notes("u50")}

    def listing() -> tuple[set[str], int]:
        pages = fetch_all(session, sim, userId="u50")
        total = body(session, sim, userId="u50")["data"]["total"]
        return {n["noteId"] for page in pages for n in page}, total

    first, total = listing()
    assert first < truth and total == len(first)  # some left out; the total agrees with the list
    assert listing() == (first, total)  # the same all day
    sim.update(as_of="2026-06-02")
    other, _ = listing()
    assert other != first and other < {n["noteId"] for n in sim.expected_notes("u50")}
    assert sim.counters().faults["note_omitted"] >= 2


def test_fault_stream_is_reproducible_per_seed(make_sim: MakeSim, session: requests.Session) -> None:
    def codes(sim: Simulator) -> list[int]:
        return [code_of(session, sim, userId="u8") for _ in range(30)]

    first, second = codes(make_sim(seed=5, p_301=0.5)), codes(make_sim(seed=5, p_301=0.5))
    assert first == second and {0, 301} == set(first)


# -- the vendor changing the shape of its answers (off in every profile) ---------------------
def test_201_for_chosen_kols(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(user_codes={"u8": 201}, fixed_counts={"u8": 8, "u9": 9})
    empty = body(session, sim, userId="u8")
    assert (empty["code"], empty["data"], empty["message"]) == (201, None, "No content available")
    assert code_of(session, sim, userId="u9") == 0


def test_a_renamed_field(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(fixed_counts={"u8": 8}, rename_fields={"readNum": "readCount"})
    (first,) = body(session, sim, userId="u8")["data"]["list"][:1]
    truth = sim.expected_notes("u8")[0]
    assert "readNum" not in first and first["readCount"] == truth["readNum"]
    assert list(first) == ["readCount", *FIELDS[1:]]  # same place, new name


def test_metrics_nested_in_an_object(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(fixed_counts={"u8": 8}, nest_metrics="metrics")
    first = body(session, sim, userId="u8")["data"]["list"][0]
    truth = sim.expected_notes("u8")[0]
    assert first["metrics"] == {m: truth[m] for m in ("readNum", "likeNum", "collectNum")}
    assert not {"readNum", "likeNum", "collectNum"} & set(first)


def test_date_as_epoch_milliseconds(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(fixed_counts={"u8": 8}, date_format="epoch_ms")
    first = body(session, sim, userId="u8")["data"]["list"][0]
    day = sim.expected_notes("u8")[0]["date"]
    # Midnight of that day in China (UTC+8), in milliseconds.
    assert first["date"] == int(datetime.fromisoformat(day + "T00:00:00+08:00").timestamp() * 1000)


def test_data_list_renamed_and_total_missing(make_sim: MakeSim, session: requests.Session) -> None:
    sim = make_sim(fixed_counts={"u8": 8}, list_key="notes", omit_total=True)
    data = body(session, sim, userId="u8")["data"]
    assert set(data) == {"notes"} and len(data["notes"]) == 8
    assert sim.counters().faults["list_renamed"] == sim.counters().faults["no_total"] == 1
