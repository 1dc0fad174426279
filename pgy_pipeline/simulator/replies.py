"""What the endpoint and the gateway in front of it answer, as bytes on the wire.

Three shapes, as observed on the live service: the business envelope (HTTP 200,
``code`` decides), the web framework's error body (``{timestamp, status, error,
path}``, e.g. HTTP 400 for a malformed userId) and a gateway's HTML page (502).
The framework body carries the path only, never the query, so no token leaks.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MESSAGES = {
    0: "success",
    100: "Invalid or Inactive Token",
    201: "No content available",
    301: "FAILED, RETRY",
    302: "Rate Limit Exceeded",
    303: "Daily Quota Exceeded",
    400: "Invalid Parameters",
    500: "Internal Server Error",
    600: "Permission Denied",
    601: "Insufficient Balance",
}
_HTTP_ERRORS = {400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_JSON = "application/json"


@dataclass
class Reply:
    """One answer; ``drop`` closes the connection without a response."""

    status: int = 200
    body: bytes = b""
    content_type: str = _JSON
    headers: dict[str, str] = field(default_factory=dict)
    code: int | None = None
    drop: bool = False


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def framework(status: int, path: str, **extra: Any) -> Reply:
    """The Spring-style error body the vendor's framework sends instead of the envelope."""
    body = {"timestamp": now_iso(), "status": status, "error": _HTTP_ERRORS[status], **extra, "path": path}
    return Reply(status=status, body=_json(body))


def envelope(code: int, message: str | None = None, data: Any = None) -> Reply:
    body = {
        "code": code,
        "message": message or MESSAGES.get(code, f"Error {code}"),
        "data": data,
        "recordTime": now_iso() if code == 0 else None,
        "requestId": str(uuid.uuid4()),
    }
    return Reply(body=_json(body), code=code)
