"""Where alerts go: the webhook URL (a secret), the kind of service behind it, the Dagster UI link.

Read from the environment when asked, never at import, so a code location picks up a changed
variable on reload and tests can pass their own mapping. Group-bot webhook URLs carry their
credential in the path (Feishu, Slack) or the query (DingTalk ``access_token``, WeCom ``key``),
so the URL is treated like the API token: registered with the redaction layer, kept out of
``repr``, and only ever shown as ``scheme://host/***``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

import requests

from pgy_pipeline.justoneapi.redaction import MASK, redact, register_secret

URL_VAR = "PGY_ALERT_WEBHOOK_URL"
KIND_VAR = "PGY_ALERT_WEBHOOK_KIND"
DAGSTER_URL_VAR = "PGY_DAGSTER_URL"


class WebhookKind(StrEnum):
    FEISHU = "feishu"
    DINGTALK = "dingtalk"
    WECOM = "wecom"
    SLACK = "slack"
    JSON = "json"


class AlertConfigError(ValueError):
    """A misconfigured alert variable; the message names the variable, never the URL."""


@dataclass(frozen=True)
class AlertSettings:
    url: str | None = field(default=None, repr=False)
    kind: WebhookKind = WebhookKind.JSON
    dagster_url: str | None = None

    def __post_init__(self) -> None:
        if self.url:
            for secret in _secret_forms(self.url):
                register_secret(secret)

    def __repr__(self) -> str:
        return f"AlertSettings(url={self.describe_url()!r}, kind={self.kind.value!r})"

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def describe_url(self) -> str:
        """``https://open.feishu.cn/***``: enough to tell which service, nothing to post with."""
        if not self.url:
            return "(not set)"
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/{MASK}"

    def scrub(self, text: str) -> str:
        """``text`` with every form of the URL (full, prepared, path and query) masked.

        Each form was registered with ``redact`` when these settings were made.
        """
        return redact(text)

    def run_link(self, run_id: str | None) -> str | None:
        if not (self.dagster_url and run_id):
            return None
        return f"{self.dagster_url.rstrip('/')}/runs/{run_id}"


def _secret_forms(url: str) -> set[str]:
    # urllib3 names the request target (path?query) in its DEBUG lines and its "Max retries
    # exceeded with url: ..." errors, and requests may re-encode the URL: mask all of them.
    forms = {url}
    try:
        prepared = requests.Request("POST", url).prepare()
    except requests.RequestException:
        prepared = None
    if prepared is not None and prepared.url:
        forms |= {prepared.url, prepared.path_url}
    parts = urlsplit(url)
    forms |= {parts.path + (f"?{parts.query}" if parts.query else ""), parts.query}
    # The host alone is not secret; a bare "/" path is not either (too short to mask anyway).
    return {f for f in forms if len(f) >= 6}


def alert_settings(env: Mapping[str, str] | None = None) -> AlertSettings:
    """The alert settings from ``env`` (default: the process environment, read now)."""
    env = os.environ if env is None else env
    url = (env.get(URL_VAR) or "").strip() or None
    raw_kind = (env.get(KIND_VAR) or "").strip().lower() or WebhookKind.JSON.value
    try:
        kind = WebhookKind(raw_kind)
    except ValueError:
        allowed = "|".join(k.value for k in WebhookKind)
        raise AlertConfigError(
            f"{KIND_VAR}={raw_kind[:40]!r} is not a known webhook kind; allowed values: {allowed}"
        ) from None
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise AlertConfigError(f"{URL_VAR} must be an http(s) URL (value not shown: it is a secret)")
    dagster_url = (env.get(DAGSTER_URL_VAR) or "").strip() or None
    return AlertSettings(url=url, kind=kind, dagster_url=dagster_url)
