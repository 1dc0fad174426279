"""Redaction of the token in text and in third-party log records."""

from __future__ import annotations

import io
import logging

import pytest

from pgy_pipeline.justoneapi import install_log_redaction, redact, register_secret
from pgy_pipeline.justoneapi.redaction import RedactingFilter, strip_query

from .helpers import TOKEN


def test_token_query_values_are_masked() -> None:
    url = "https://api.justoneapi.com/api/x?token=abc123&userId=u1"
    assert redact(url) == "https://api.justoneapi.com/api/x?token=***&userId=u1"
    assert redact("GET /api/x?userId=u&TOKEN=zz HTTP/1.1") == "GET /api/x?userId=u&TOKEN=*** HTTP/1.1"
    assert redact('{"token": "abc123"}') == '{"token": "***"}'


def test_registered_secrets_are_masked_anywhere_also_url_encoded() -> None:
    secret = "s3cr/et+value=="
    register_secret(secret)
    assert redact(f"echo {secret} and s3cr%2Fet%2Bvalue%3D%3D") == "echo *** and ***"


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact("abc") == "abc"


def test_strip_query_drops_request_targets() -> None:
    text = "Max retries exceeded with url: /api/x?token=abc&userId=u (Caused by X)"
    assert strip_query(text) == "Max retries exceeded with url: /api/x?... (Caused by X)"


def test_filter_rewrites_urllib3_style_records() -> None:
    record = logging.LogRecord(
        "urllib3.connectionpool",
        logging.DEBUG,
        __file__,
        1,
        '%s://%s:%s "%s %s %s" %s %s',
        ("http", "127.0.0.1", 80, "GET", f"/api/x?token={TOKEN}&userId=u", "HTTP/1.1", 200, 10),
        None,
    )
    assert RedactingFilter().filter(record)
    assert TOKEN not in record.getMessage() and "token=***" in record.getMessage()


def test_filter_masks_tracebacks() -> None:
    try:
        raise RuntimeError(f"failed GET /x?token={TOKEN}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("urllib3", logging.WARNING, __file__, 1, "boom", None, sys.exc_info())
    RedactingFilter().filter(record)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.handle(record)
    assert "RuntimeError" in stream.getvalue() and TOKEN not in stream.getvalue()


def test_install_is_idempotent_and_covers_urllib3(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()
    logger = logging.getLogger("urllib3.connectionpool")
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")
    logger.debug('"GET %s HTTP/1.1" 200', f"/api?token={TOKEN}")
    assert TOKEN not in caplog.text and "token=***" in caplog.text
