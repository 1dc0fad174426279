"""Each service gets the body it expects, posted for real to a loopback receiver, and short enough."""

from __future__ import annotations

from typing import Any

import pytest

from pgy_pipeline.alerts import (
    Alert,
    AlertKind,
    WebhookKind,
    WebhookSender,
    kol_list,
    render,
    run_failed_alert,
    truncate_bytes,
)

from .conftest import Receiver

ALERT = Alert(
    AlertKind.QUOTA_STOP,
    "pgy: Just One API daily quota exhausted (303)",
    ("All API calls stopped.", "KOLs not refreshed (2): u1 (小红 & Co), u2", "To do: wait"),
    "quota_stop:2026-03-09T16:00:00+00:00",
    "http://dagster.local/runs/r1",
)


def _check_feishu(body: dict[str, Any]) -> None:
    assert body["msg_type"] == "text"
    assert body["content"]["text"].startswith("pgy: Just One API daily quota exhausted")
    assert "u1 (小红 & Co)" in body["content"]["text"]


def _check_dingtalk(body: dict[str, Any]) -> None:
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == ALERT.title
    assert body["markdown"]["text"].startswith(f"#### {ALERT.title}")
    assert "[Open the run in Dagster](http://dagster.local/runs/r1)" in body["markdown"]["text"]


def _check_wecom(body: dict[str, Any]) -> None:
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["content"].startswith(f"**{ALERT.title}**")


def _check_slack(body: dict[str, Any]) -> None:
    assert set(body) == {"text"}
    assert "小红 &amp; Co" in body["text"]  # mrkdwn control characters escaped
    assert "<http://dagster.local/runs/r1|Open the run in Dagster>" in body["text"]


def _check_json(body: dict[str, Any]) -> None:
    assert body["kind"] == "quota_stop"
    assert body["dedup_key"] == ALERT.dedup_key
    assert body["lines"] == list(ALERT.lines)
    assert body["link"] == ALERT.link


CHECKS = {
    WebhookKind.FEISHU: _check_feishu,
    WebhookKind.DINGTALK: _check_dingtalk,
    WebhookKind.WECOM: _check_wecom,
    WebhookKind.SLACK: _check_slack,
    WebhookKind.JSON: _check_json,
}


@pytest.mark.parametrize("kind", list(WebhookKind))
def test_payload_shape_per_kind(receiver: Receiver, kind: WebhookKind) -> None:
    with WebhookSender(receiver.settings(kind)) as sender:
        result = sender.send(ALERT)
    assert result.ok, result.detail
    assert len(receiver.posts) == 1
    CHECKS[kind](receiver.posts[0])


def test_long_kol_lists_end_with_and_n_more() -> None:
    users = [f"user{i:03d}" for i in range(250)]
    text = kol_list(users, {"user000": "第一个博主"})
    assert text.startswith("user000 (第一个博主), user001")
    assert text.endswith("and 240 more")


@pytest.mark.parametrize("kind", list(WebhookKind))
def test_every_message_fits_wecom_limit(kind: WebhookKind) -> None:
    failed = [(f"5f{i:022x}", "301") for i in range(500)]
    labels = {u: "小红书博主" * 30 for u, _ in failed}
    alert = run_failed_alert("run-1", "refresh_job", "失败 " * 2000, failed, labels=labels)
    body = render(alert, kind)
    texts = [v for v in _strings(body) if len(v) > 100]
    assert texts and all(len(t.encode("utf-8")) <= 4096 for t in texts)
    assert alert.lines[1].endswith(" more")


def test_truncation_never_splits_a_character() -> None:
    cut = truncate_bytes("博" * 5000, 100)
    assert len(cut.encode("utf-8")) <= 100
    assert cut.endswith("…") and set(cut[:-1]) == {"博"}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
