"""The body each group-bot webhook expects, built from an Alert.

- Feishu (Lark) custom bot: ``{"msg_type": "text", "content": {"text": ...}}``
- DingTalk custom robot: ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}``
- WeCom group bot: ``{"msgtype": "markdown", "markdown": {"content": ...}}`` (content <= 4096 bytes)
- Slack incoming webhook: ``{"text": ...}`` in mrkdwn
- json: the alert itself, for a relay of your own

Bots with a keyword security setting (Feishu, DingTalk) accept a message only if it contains the
keyword: every title starts with "pgy", so "pgy" works as that keyword.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .model import Alert
from .settings import WebhookKind

# WeCom rejects markdown content over 4096 bytes; the other services allow more, but a message
# that long is not read on a phone anyway, so every kind gets the same cap with some headroom.
MAX_BODY_BYTES = 3800
_ELLIPSIS = "…"


def truncate_bytes(text: str, max_bytes: int = MAX_BODY_BYTES) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character (Chinese is 3 bytes)."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max_bytes - len(_ELLIPSIS.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + _ELLIPSIS


def _feishu(alert: Alert) -> dict[str, Any]:
    return {"msg_type": "text", "content": {"text": truncate_bytes(alert.text)}}


def _markdown_lines(alert: Alert, link_text: str) -> list[str]:
    lines = list(alert.lines)
    if alert.link:
        lines.append(f"[{link_text}]({alert.link})")
    return lines


def _dingtalk(alert: Alert) -> dict[str, Any]:
    # DingTalk markdown joins single newlines; a blank line keeps each line on its own.
    body = "\n\n".join([f"#### {alert.title}", *_markdown_lines(alert, "Open the run in Dagster")])
    return {"msgtype": "markdown", "markdown": {"title": alert.title, "text": truncate_bytes(body)}}


def _wecom(alert: Alert) -> dict[str, Any]:
    body = "\n".join([f"**{alert.title}**", *_markdown_lines(alert, "Open the run in Dagster")])
    return {"msgtype": "markdown", "markdown": {"content": truncate_bytes(body)}}


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn reserves these three; a KOL label like "A&B" must not become a control sequence.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(alert: Alert) -> dict[str, Any]:
    lines = [f"*{_slack_escape(alert.title)}*", *(_slack_escape(line) for line in alert.lines)]
    if alert.link:
        lines.append(f"<{alert.link}|Open the run in Dagster>")
    return {"text": truncate_bytes("\n".join(lines))}


def _json(alert: Alert) -> dict[str, Any]:
    return alert.as_dict()


_RENDERERS: dict[WebhookKind, Callable[[Alert], dict[str, Any]]] = {
    WebhookKind.FEISHU: _feishu,
    WebhookKind.DINGTALK: _dingtalk,
    WebhookKind.WECOM: _wecom,
    WebhookKind.SLACK: _slack,
    WebhookKind.JSON: _json,
}


def render(alert: Alert, kind: WebhookKind) -> dict[str, Any]:
    """The JSON body to POST for ``alert`` to a webhook of ``kind``."""
    return _RENDERERS[WebhookKind(kind)](alert)
