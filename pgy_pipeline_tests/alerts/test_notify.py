"""Delivery: once per event across stores and processes; failures logged, never raised, URL masked."""

from __future__ import annotations

import logging
import multiprocessing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pgy_pipeline.alerts import (
    AlertSettings,
    DedupStore,
    WebhookKind,
    WebhookSender,
    notify,
    notify_given_up,
    notify_stops,
    stop_alert,
)
from pgy_pipeline.alerts.model import AlertKind

from . import claim_worker
from .conftest import HOOK_SECRET, Receiver

UNTIL = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


def quota_alert(users: list[str] | None = None):  # type: ignore[no-untyped-def]
    return stop_alert(AlertKind.QUOTA_STOP, users or ["u1", "u2"], until=UNTIL)


@dataclass
class Outcome:
    user_id: str
    status: str = "stopped"
    error_code: int | None = None
    stop_kind: str | None = "balance"
    message: str | None = "insufficient balance (code 601) -> top up the balance"


@dataclass
class Failure:
    user_id: str
    attempts: int = 4
    code: int | None = 301
    error_kind: str = "retry"
    message: str | None = "transient failure, retry later (code 301)"
    last_failed_at: datetime = UNTIL
    last_run_id: str | None = "run-9"
    gave_up: bool = True


def test_the_same_stop_twice_is_posted_once(receiver: Receiver, data_dir: Path) -> None:
    settings = receiver.settings()
    first = notify(quota_alert(["u1"]), data_dir, settings=settings)
    second = notify(quota_alert(["u2", "u3"]), data_dir, settings=settings)
    assert (first.status, second.status) == ("sent", "duplicate")
    assert len(receiver.posts) == 1


def test_two_stores_on_the_same_path_share_what_was_sent(receiver: Receiver, data_dir: Path) -> None:
    assert DedupStore(data_dir).claim(["quota_stop:x"]) == ["quota_stop:x"]
    assert DedupStore(data_dir).claim(["quota_stop:x", "quota_stop:y"]) == ["quota_stop:y"]
    settings = receiver.settings()
    notify(quota_alert(), data_dir, settings=settings)
    notify(quota_alert(), Path(str(data_dir)), settings=settings)  # a fresh store, as another process has
    assert len(receiver.posts) == 1


def test_claims_are_atomic_across_processes(data_dir: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=claim_worker.claim, args=(str(data_dir), start, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    start.set()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    assert sorted(map(len, results)) == [0, 0, 1]


def test_one_message_per_stop_not_per_kol(receiver: Receiver, data_dir: Path) -> None:
    outcomes = (
        [Outcome("u1", error_code=601)] + [Outcome(f"u{i}") for i in range(2, 30)] + [Outcome("ok", "ok")]
    )
    results = notify_stops(outcomes, data_dir, labels={"u1": "Alice"}, settings=receiver.settings())
    again = notify_stops(outcomes[:3], data_dir, settings=receiver.settings())
    assert [r.status for r in results] == ["sent"]
    assert [r.status for r in again] == ["duplicate"]
    (body,) = receiver.posts
    assert body["kind"] == "balance_stop"
    assert "u1 (Alice)" in body["text"] and "and 19 more" in body["text"] and "top up" in body["text"]


def test_given_up_kols_are_announced_once_each(receiver: Receiver, data_dir: Path) -> None:
    settings = receiver.settings(dagster_url="http://dagster.local")
    assert notify_given_up([Failure("a"), Failure("b")], data_dir, settings=settings).sent
    assert notify_given_up([Failure("a"), Failure("b")], data_dir, settings=settings).status == "duplicate"
    assert notify_given_up([Failure("a"), Failure("c", code=400)], data_dir, settings=settings).sent
    assert len(receiver.posts) == 2
    assert "a [301, 4 attempt(s)], b" in receiver.posts[0]["text"]
    assert receiver.posts[1]["lines"][0].endswith("c [400, 4 attempt(s)]")
    assert receiver.posts[1]["link"] == "http://dagster.local/runs/run-9"


def test_nothing_is_sent_or_claimed_without_a_url(receiver: Receiver, data_dir: Path) -> None:
    assert notify(quota_alert(), data_dir, settings=AlertSettings()).status == "disabled"
    assert notify(quota_alert(), data_dir, settings=receiver.settings()).sent


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_is_retried_then_reported_and_may_be_sent_later(
    receiver: Receiver, data_dir: Path, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status, receiver.body = status, b'{"error": "down"}'
    caplog.set_level(logging.DEBUG)
    with WebhookSender(receiver.settings(), backoff_s=0.01) as sender:
        result = notify(quota_alert(), data_dir, settings=receiver.settings(), sender=sender)
    assert result.status == "failed" and f"HTTP {status}" in result.detail
    assert len(receiver.posts) == 3  # the first try and two retries
    _assert_no_secret(caplog, result.detail)
    receiver.status, receiver.body = 200, b"{}"
    assert notify(quota_alert(), data_dir, settings=receiver.settings()).sent  # the claim was released


def test_a_refused_connection_is_reported_without_the_url(
    refused_url: str, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = AlertSettings(url=refused_url, kind=WebhookKind.WECOM)
    with WebhookSender(settings, backoff_s=0.01) as sender:
        result = notify(quota_alert(), data_dir, settings=settings, sender=sender)
    assert result.status == "failed"
    assert "ConnectionError" in result.detail
    assert "127.0.0.1" in caplog.text and "***" in caplog.text  # it did log, masked
    _assert_no_secret(caplog, result.detail)


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        (
            WebhookKind.FEISHU,
            b'{"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}',
            "code 19001",
        ),
        (WebhookKind.DINGTALK, b'{"errcode": 310000, "errmsg": "keywords not in content"}', "errcode 310000"),
        (WebhookKind.WECOM, b'{"errcode": 93000, "errmsg": "invalid webhook url"}', "errcode 93000"),
    ],
)
def test_an_error_code_in_a_200_body_is_a_failure(
    receiver: Receiver,
    data_dir: Path,
    kind: WebhookKind,
    body: bytes,
    expected: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.body = body
    caplog.set_level(logging.DEBUG)
    result = notify(quota_alert(), data_dir, settings=receiver.settings(kind))
    assert result.status == "failed" and expected in result.detail
    assert expected in caplog.text
    _assert_no_secret(caplog, result.detail)
    # A bot's error code will not fix itself: not retried on every later event.
    assert notify(quota_alert(), data_dir, settings=receiver.settings(kind)).status == "duplicate"


def test_a_bad_kind_in_the_environment_fails_the_alert_not_the_caller(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PGY_ALERT_WEBHOOK_URL", f"https://hooks.slack.com/services/{HOOK_SECRET}")
    monkeypatch.setenv("PGY_ALERT_WEBHOOK_KIND", "teams")
    result = notify(quota_alert(), data_dir)
    assert result.status == "failed" and "PGY_ALERT_WEBHOOK_KIND" in result.detail
    _assert_no_secret(caplog, result.detail)


def _assert_no_secret(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    for record in caplog.records:
        assert HOOK_SECRET not in record.getMessage(), record.name
        assert HOOK_SECRET not in (record.exc_text or "")
    assert HOOK_SECRET not in caplog.text
    for text in texts:
        assert HOOK_SECRET not in text
