"""Masking of the API token wherever text can leave the process: exceptions, log records, metadata.

The vendor takes the token as a query parameter, so every request URL is a secret. Two layers:
``token=...`` values are masked by pattern, and registered secrets (the token itself, also in its
URL-encoded forms) are masked wherever they occur, e.g. echoed back in a server error body.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from urllib.parse import quote, quote_plus

import requests

MASK = "***"

_QUERY_TOKEN = re.compile(r"(?i)(token=)[^&\s'\"#)<>,;]+")
_JSON_TOKEN = re.compile(r"(?i)(\"token\"\s*:\s*\")[^\"]*(\")")
# "Max retries exceeded with url: /path?query": urllib3 quotes the full request target in messages.
_URL_WITH_QUERY = re.compile(r"(?i)((?:https?://[^\s'\"?]+)?/[^\s'\"?]*)\?[^\s'\")]+")

# Shorter values would mask ordinary words; such tokens are still caught by the token= pattern.
_MIN_SECRET_LEN = 6

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_sorted_secrets: tuple[str, ...] = ()


def register_secret(value: str) -> None:
    """Mask ``value`` (and its URL-encoded forms) in everything ``redact`` sees from now on."""
    global _sorted_secrets
    if not isinstance(value, str) or len(value) < _MIN_SECRET_LEN:
        return
    with _secrets_lock:
        _secrets.update({value, quote(value, safe=""), quote_plus(value)})
        # Longest first, so a secret containing another one is masked whole.
        _sorted_secrets = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with token query values, JSON "token" values and registered secrets replaced by ***."""
    if not isinstance(text, str):
        text = str(text)
    for secret in _sorted_secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _QUERY_TOKEN.sub(rf"\g<1>{MASK}", text)
    return _JSON_TOKEN.sub(rf"\g<1>{MASK}\g<2>", text)


def strip_query(text: str) -> str:
    """``text`` with the query string of any URL or request target dropped (and the rest redacted)."""
    return redact(_URL_WITH_QUERY.sub(r"\g<1>?...", text))


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites a record's message (and traceback text) through ``redact``.

    urllib3 logs request lines like ``"GET /api/...?token=... HTTP/1.1" 200`` at DEBUG, which any
    run with debug logging on would otherwise write to disk. The record is kept, only its text masked.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record from someone else's logger: mask its parts instead
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            # Formatters reuse exc_text when set, so the traceback they print is the masked one.
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()
_install_lock = threading.Lock()
# Filters on a parent logger do not see records of its children, so each emitting logger gets one.
_LOGGERS = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
    "pgy_pipeline.justoneapi",
)


def install_log_redaction() -> None:
    """Attach the redacting filter to urllib3's, requests' and our loggers; safe to call repeatedly."""
    with _install_lock:
        names = set(_LOGGERS)
        names.update(
            name
            for name in list(logging.root.manager.loggerDict)
            if name.startswith(("urllib3.", "requests.", "pgy_pipeline.justoneapi."))
        )
        for name in sorted(names):
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")\]]*")


def describe_request_error(exc: requests.RequestException) -> str:
    """The kind and reason of a transport failure, without the request URL its text embeds (token included)."""
    text = str(exc)
    errno = _ERRNO.search(text)
    if errno:
        reason = errno.group(0).strip()
    elif isinstance(exc, requests.ReadTimeout):
        reason = "read timed out"
    elif isinstance(exc, requests.ConnectTimeout):
        reason = "connect timed out"
    else:
        reason = text.split("(Caused by", 1)[0][:200]
    return strip_query(f"{type(exc).__name__}: {reason}")


def transport_failure(exc: requests.RequestException) -> tuple[str, str]:
    """The error kind of a request that got no answer, and its description without the URL."""
    if isinstance(exc, requests.Timeout):
        kind = "timeout"
    elif isinstance(exc, requests.ConnectionError):
        kind = "connection_error"
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError):
        kind = "broken_body"
    else:
        kind = "transport"
    return kind, describe_request_error(exc)
