"""Classification of single responses and parsing of notes: the code table, odd shapes, coercions."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from pgy_pipeline.justoneapi import (
    CODE_TABLE,
    ApiError,
    BudgetExhausted,
    InsufficientBalance,
    InvalidParameters,
    InvalidToken,
    MalformedResponse,
    NoContent,
    NotesQuery,
    PermissionDenied,
    QuotaExceeded,
    RequestRejected,
    RetryableError,
    SlowDownError,
    StopAllCalls,
    UnknownCode,
    page_from_raw,
)
from pgy_pipeline.justoneapi.envelope import Reading, classify, parse_retry_after

from .helpers import TOKEN, envelope, vendor_note


def _classify(status: int, body: Any, headers: dict[str, str] | None = None) -> Reading:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return classify(status, headers or {}, raw, user_id="u1", page_number=3)


def test_success_parses_the_vendor_sample() -> None:
    reading = _classify(200, envelope(0, [vendor_note()], total=72, requestId="r-1", recordTime="2026-03-08"))
    assert reading.outcome == "ok" and reading.error is None and reading.code == 0
    assert reading.total == 72 and reading.request_id == "r-1" and reading.record_time == "2026-03-08"
    (note,) = reading.notes
    assert note.note_id == "69ad5b0b000000002203ac87"
    assert note.title == "被儿子的女神节礼物整破防了😭"
    assert note.publish_date == date(2026, 3, 8)
    assert (note.is_video, note.is_advertise, note.brand_name) == (True, False, None)
    assert (note.read_num, note.like_num, note.collect_num, note.third_read_user_num) == (1142, 53, 11, 0)
    assert note.extra == {}
    assert reading.counts is not None and reading.counts.null_metrics == reading.counts.invalid_values == 0


@pytest.mark.parametrize(
    ("code", "error_type", "outcome"),
    [
        (100, InvalidToken, "stop"),
        (301, RetryableError, "retry"),
        (302, SlowDownError, "slow_down"),
        (303, QuotaExceeded, "stop"),
        (201, NoContent, "no_content"),
        (400, InvalidParameters, "rejected"),
        (500, RetryableError, "retry"),
        (600, PermissionDenied, "rejected"),
        (601, InsufficientBalance, "stop"),
        (101, UnknownCode, "rejected"),
        (503, UnknownCode, "rejected"),
        (999, UnknownCode, "rejected"),
        (-1, UnknownCode, "rejected"),
    ],
)
def test_every_code_of_the_table(code: int, error_type: type[ApiError], outcome: str) -> None:
    reading = _classify(200, {"code": code, "data": None, "message": "FAILED, RETRY", "recordTime": None})
    assert reading.outcome == outcome and reading.code == code
    assert type(reading.error) is error_type
    assert reading.error.code == code and reading.error.http_status == 200
    assert (reading.error.user_id, reading.error.page_number) == ("u1", 3)
    assert "FAILED, RETRY" in reading.error.message


def test_code_table_covers_facts() -> None:
    assert set(CODE_TABLE) == {100, 201, 301, 302, 303, 400, 500, 600, 601}


def test_stop_errors_carry_an_action() -> None:
    assert "JUSTONEAPI_TOKEN" in InvalidToken().action
    assert "quota resets" in QuotaExceeded().action
    assert "top up" in InsufficientBalance().action
    assert isinstance(BudgetExhausted(), StopAllCalls)
    assert "top up the balance" in str(InsufficientBalance(code=601, user_id="u"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"code": "0", "data": {"list": [], "total": 0}}, "not an integer"),
        ({"code": True, "data": {"list": []}}, "not an integer"),
        ({"code": 0.0, "data": {"list": []}}, "not an integer"),
        ({"code": None}, "not an integer"),
        ({"code": 0, "data": {"list": [{"title": "no id"}]}}, "noteId"),
        ({"code": 0, "data": {"list": [vendor_note(), {"noteId": 7}]}}, "noteId"),
        ({"code": 0, "data": {"list": ["69ad5b0b000000002203ac87"]}}, "not an object"),
        ({"message": "no code at all"}, "without an envelope code"),
    ],
)
def test_wrong_envelope_shapes_are_rejected_not_retried(body: dict, reason: str) -> None:
    reading = _classify(200, body)
    assert reading.outcome == "rejected"
    assert isinstance(reading.error, MalformedResponse) and isinstance(reading.error, RequestRejected)
    assert reason in str(reading.error)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"code": 0}, "data.list missing: data is null"),
        ({"code": 0, "data": None}, "data.list missing: data is null"),
        ({"code": 0, "data": {"total": 3}}, "data.list missing: data holds total (e.g. 3)"),
        ({"code": 0, "data": {"notes": [{}, {}], "total": 2}}, "data holds notes (a list of 2), total"),
        ({"code": 0, "data": {"list": {"a": 1}}}, "data.list is not a list"),
    ],
)
def test_a_code_0_answer_without_a_data_list_array_is_drift_not_a_rejection(body: dict, detail: str) -> None:
    # The page is kept (outcome ok) so its body reaches the raw layer; its drift stops the fetch.
    reading = _classify(200, body)
    assert reading.outcome == "ok" and reading.error is None and reading.notes == ()
    assert reading.drift is not None and detail in reading.drift.detail


def test_code_decides_over_http_status() -> None:
    assert isinstance(_classify(429, envelope(303)).error, QuotaExceeded)
    assert isinstance(_classify(500, envelope(500)).error, RetryableError)
    assert isinstance(_classify(401, envelope(100)).error, InvalidToken)
    assert _classify(500, envelope(0)).outcome == "rejected"


def test_http_status_without_envelope() -> None:
    html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    reading = _classify(502, html, {"Content-Type": "text/html"})
    assert reading.outcome == "retry" and reading.error is not None and reading.code is None
    assert reading.error.kind == "http_502"
    assert "HTML" in str(reading.error)
    for status in (503, 504, 500):
        assert _classify(status, {"status": status, "error": "Service Unavailable"}).outcome == "retry"
    slow = _classify(429, {"status": 429, "error": "Too Many Requests"}, {"Retry-After": "3"})
    assert slow.outcome == "slow_down" and slow.retry_after_s == 3.0
    assert isinstance(slow.error, SlowDownError)


def test_framework_400_names_the_error_but_not_the_path() -> None:
    body = {
        "timestamp": "2026-03-08T00:00:00.000+00:00",
        "status": 400,
        "error": "Bad Request",
        "path": f"/api/x?token={TOKEN}&userId=a%20b",
    }
    reading = _classify(400, body)
    assert reading.outcome == "rejected" and isinstance(reading.error, InvalidParameters)
    assert reading.error.http_status == 400 and reading.error.code is None
    assert "HTTP 400 Bad Request" in str(reading.error)
    assert "/api/x" not in str(reading.error) and TOKEN not in str(reading.error)
    other = _classify(403, b"forbidden", {"Content-Type": "text/plain"})
    assert type(other.error) is RequestRejected and other.error.kind == "http_403"


def test_redirects_are_rejected() -> None:
    reading = _classify(302, b"", {"Location": f"http://elsewhere/?token={TOKEN}"})
    assert reading.outcome == "rejected" and "redirect" in str(reading.error)


@pytest.mark.parametrize(
    "body",
    [b'{"code":0,"data":{"list":[{"noteId":"a"', b"", b"not json", '{"title":"😭'.encode()[:-2]],
)
def test_truncated_or_non_json_200_is_retryable(body: bytes) -> None:
    reading = _classify(200, body)
    assert reading.outcome == "retry" and isinstance(reading.error, RetryableError)
    assert reading.error.kind == "bad_body"


def test_an_echoed_token_is_masked_in_error_messages() -> None:
    from pgy_pipeline.justoneapi import register_secret

    register_secret(TOKEN)
    reading = _classify(200, {"code": 100, "message": f"token {TOKEN} is not active"})
    assert TOKEN not in str(reading.error) and TOKEN not in repr(reading.error)
    assert "***" in str(reading.error)


def test_metric_coercion_and_counts() -> None:
    notes = [
        vendor_note("a", readNum="1142", likeNum=None, collectNum="12.5", thirdReadUserNum="1e3"),
        vendor_note("b", readNum="", likeNum=True, collectNum="abc", isVideo="true", date="08/03/2026"),
        vendor_note("c", readNum=7.0, isAdvertise=1, title=42),
    ]
    del notes[2]["likeNum"]
    reading = _classify(200, envelope(0, notes, total="3"))  # type: ignore[arg-type]
    a, b, c = reading.notes
    assert (a.read_num, a.like_num, a.collect_num, a.third_read_user_num) == (1142, None, None, None)
    assert (b.read_num, b.like_num, b.collect_num, b.is_video, b.publish_date) == (
        None,
        None,
        None,
        True,
        None,
    )
    assert (c.read_num, c.like_num, c.is_advertise, c.title) == (None, None, True, None)
    assert reading.total == 3
    assert (
        reading.counts is not None and reading.counts.null_metrics == 2
    )  # a.likeNum null, c.likeNum missing
    # a: 12.5, 1e3; b: "", true, abc, date; c: 7.0 float, title 42
    assert reading.counts.invalid_values == 8


def test_unknown_fields_are_kept_in_extra() -> None:
    reading = _classify(200, envelope(0, [vendor_note(shareNumV2=5, xsecToken="AB12")], cursorV2="x"))
    assert reading.notes[0].extra == {"shareNumV2": 5, "xsecToken": "AB12"}


def test_retry_after_forms() -> None:
    now = datetime(2026, 3, 8, tzinfo=UTC)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None


def test_page_from_raw_rebuilds_a_stored_page() -> None:
    query = NotesQuery("u1")
    body = json.dumps(envelope(0, [vendor_note()], total=9), ensure_ascii=False)
    fetched_at = datetime(2026, 3, 8, tzinfo=UTC)
    page = page_from_raw(query, 2, body, fetched_at=fetched_at)
    assert page.raw_body == body and page.page_number == 2 and page.total == 9
    assert page.query_params == query.to_params(2) and page.fetched_at == fetched_at
    with pytest.raises(RetryableError):
        page_from_raw(query, 2, body[:-5], fetched_at=fetched_at)


def test_errors_pickle_and_copy_keep_their_fields() -> None:
    error = QuotaExceeded("Daily Quota Exceeded", code=303, http_status=200, user_id="u", page_number=2)
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is QuotaExceeded and str(clone) == str(error)
    assert (clone.code, clone.http_status, clone.user_id, clone.page_number) == (303, 200, "u", 2)
    moved = error.copy(user_id="v", page_number=None)
    assert type(moved) is QuotaExceeded and moved.user_id == "v" and moved.code == 303
    assert "user v" in str(moved) and "quota resets" in str(moved)


def test_an_api_message_reaches_an_error_bounded_and_with_its_control_characters_visible() -> None:
    hostile = "Permission Denied\x1b[2J\x1b]0;pwned\x07\u202e" + "x" * 5000
    body = envelope(600) | {"message": hostile}
    text = str(_classify(200, body).error)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert r"Permission Denied\x1b[2J\x1b]0;pwned\x07\u202e" in text
    assert len(text) < 600  # not the 5,000 characters sent
    framework = str(_classify(400, {"status": 400, "error": "Bad\x1b[31mRequest"}).error)
    assert r"Bad\x1b[31mRequest" in framework and "\x1b" not in framework
