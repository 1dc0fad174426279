"""POSTing an alert to the webhook: bounded in time, never raising, never showing the URL.

An alert is a side effect of the pipeline, not part of it: a chat service that is down or
misconfigured is logged (URL masked) and reported as a ``SendResult``, and the run goes on.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pgy_pipeline.justoneapi.redaction import RedactingFilter, install_log_redaction

from .formats import render
from .model import Alert
from .settings import AlertSettings, WebhookKind

log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())

# Slack answers errors as a short plain-text code ("invalid_payload", "no_service"): safe to log.
_SLACK_ERROR = re.compile(r"[a-z_]{1,60}")
# Services that answer HTTP 200 with an error inside the body: (code field, message field).
# Feishu answers {"code": 19001, "msg": ...} (older bots: StatusCode); DingTalk and WeCom errcode.
_ERROR_FIELDS = {
    WebhookKind.FEISHU: (("code", "msg"), ("StatusCode", "StatusMessage")),
    WebhookKind.DINGTALK: (("errcode", "errmsg"),),
    WebhookKind.WECOM: (("errcode", "errmsg"),),
}


@dataclass(frozen=True, slots=True)
class SendResult:
    """``ok`` when the service accepted the message; ``detail`` is safe to log (URL masked)."""

    ok: bool
    status: int | None
    detail: str
    retryable: bool = False


class WebhookSender:
    """One ``requests.Session`` to one webhook; use as a context manager or call ``close()``.

    A few quick retries on connection errors and 5xx only: a POST that reached the service and
    timed out on the read may have been delivered, and a duplicate message is worse than a late one.
    ``Retry-After`` is ignored on purpose: a sensor tick must not sleep for the chat service.
    """

    def __init__(
        self,
        settings: AlertSettings,
        *,
        timeout: tuple[float, float] = (3.05, 10.0),
        retries: int = 2,
        backoff_s: float = 0.2,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        install_log_redaction()  # urllib3's DEBUG lines name the request target
        retry = Retry(
            total=retries,
            connect=retries,
            read=0,
            status=retries,
            other=0,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=frozenset({"POST"}),
            backoff_factor=backoff_s,
            backoff_max=1.0,
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        self._session = requests.Session()
        self._session.mount("https://", HTTPAdapter(max_retries=retry))
        self._session.mount("http://", HTTPAdapter(max_retries=retry))

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def send(self, alert: Alert) -> SendResult:
        result = self._send(alert)
        where = f"{self.settings.kind.value} webhook {self.settings.describe_url()}"
        if result.ok:
            log.info("alert %s sent to %s", alert.dedup_key, where)
        else:
            log.warning("alert %s not delivered to %s: %s", alert.dedup_key, where, result.detail)
        return result

    def _send(self, alert: Alert) -> SendResult:
        url = self.settings.url
        if not url:
            return SendResult(False, None, "no webhook URL configured")
        failure: str | None = None
        try:
            payload = render(alert, self.settings.kind)
            response = self._session.post(url, json=payload, timeout=self.timeout, allow_redirects=False)
            status, body = response.status_code, response.content[:4096]
        except requests.RequestException as exc:
            failure = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug here must still not fail the run
            failure = f"unexpected {type(exc).__name__}: {exc}"
        if failure is not None:
            # Built outside the except block: the exception (URL and all) is not kept anywhere.
            return SendResult(False, None, self.settings.scrub(failure), retryable=True)
        if status >= 300:
            detail = f"HTTP {status}" + self._service_error(body, allow_text=True)
            return SendResult(False, status, self.settings.scrub(detail), retryable=status >= 500)
        service_error = self._service_error(body)
        if service_error:
            return SendResult(False, status, self.settings.scrub(f"HTTP {status}{service_error}"))
        return SendResult(True, status, f"HTTP {status}")

    def _service_error(self, body: bytes, allow_text: bool = False) -> str:
        """The error a service reports inside a 2xx body (Feishu ``code``, DingTalk/WeCom ``errcode``)."""
        try:
            data: Any = json.loads(body)
        except ValueError:
            text = body.decode("utf-8", errors="replace").strip()
            return f" ({text})" if allow_text and _SLACK_ERROR.fullmatch(text) else ""
        if not isinstance(data, dict):
            return ""
        for code_field, msg_field in _ERROR_FIELDS.get(self.settings.kind, ()):
            code = data.get(code_field)
            if code not in (0, None):
                message = str(data.get(msg_field) or "")[:200]
                return f", {code_field} {code}: {message}" if message else f", {code_field} {code}"
        return ""
