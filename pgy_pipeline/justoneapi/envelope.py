"""Turning one HTTP response into an outcome: the vendor's code table plus what the HTTP status says.

Order of evidence: a JSON body with an integer ``code`` is the vendor's envelope and its code decides (so
HTTP 429 carrying code 303 stops the run rather than slowing down); otherwise the HTTP status decides. Only
an integer 0 is success, and its ``data`` is read against the data contract (contract.py): a code-0 page
whose shape broke (no ``data.list``, a field renamed or reformatted on most notes) is still a page, with
its ``drift`` set, so its body is stored before the fetch stops (client.py). Unknown codes and odd
shapes fail closed, unretried.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import ValidationError

from .contract import Envelope, PageData, read_notes
from .drift import Drift, envelope_drift, judge_page
from .errors import (
    ApiError,
    InsufficientBalance,
    InvalidParameters,
    InvalidToken,
    MalformedResponse,
    NoContent,
    PermissionDenied,
    QuotaExceeded,
    RequestRejected,
    RetryableError,
    SlowDownError,
    UnknownCode,
)
from .field_counts import FieldCounts
from .models import Note, Outcome, Page
from .params import NotesQuery
from .untrusted import snippet

CODE_TABLE: Mapping[int, tuple[type[ApiError], Outcome, str]] = {
    100: (InvalidToken, "stop", "invalid or inactive token"),
    201: (NoContent, "no_content", "the requested resource does not exist"),
    301: (RetryableError, "retry", "collection failed, retry"),
    302: (SlowDownError, "slow_down", "rate limit exceeded"),
    303: (QuotaExceeded, "stop", "daily quota exceeded"),
    400: (InvalidParameters, "rejected", "invalid parameters"),
    500: (RetryableError, "retry", "internal server error"),
    600: (PermissionDenied, "rejected", "permission denied"),
    601: (InsufficientBalance, "stop", "insufficient balance"),
}
# The vendor bills a call by its code: only these two (api/FACTS.md); every other code is free.
BILLED_CODES = frozenset({0, 201})


def is_billed(http_status: int | None, code: int | None) -> bool:
    """Whether the vendor bills a call that answered ``http_status`` with ``code``.

    A call without a readable code is billed only when it answered HTTP 200: its body may be a billed
    answer cut short in transit, and counting it keeps the daily budget from ever being exceeded. No
    answer at all, or another HTTP status, is a system-level error the vendor does not bill.
    """
    if code is not None:
        return code in BILLED_CODES
    return http_status == 200


_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.IGNORECASE)
_SNIPPET_LEN = 200


@dataclass(frozen=True, slots=True)
class Reading:
    """What one HTTP response means. ``error`` is None exactly when ``outcome`` is "ok"."""

    outcome: Outcome
    http_status: int
    text: str
    code: int | None = None
    error: ApiError | None = None
    retry_after_s: float | None = None
    notes: tuple[Note, ...] = ()
    total: int | None = None
    message: str | None = None
    request_id: str | None = None
    record_time: str | None = None
    counts: FieldCounts | None = None
    drift: Drift | None = None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN compares unequal to itself


def _decode(content: bytes, headers: Mapping[str, str]) -> tuple[str, bool]:
    # JSON is UTF-8 unless the server says otherwise; guessing (requests' apparent_encoding) is slow and
    # can mangle emoji titles. Strict decoding also catches a body cut inside a multi-byte character.
    match = _CHARSET.search(headers.get("Content-Type", ""))
    encoding = match.group(1) if match else "utf-8"
    try:
        return content.decode(encoding), True
    except (LookupError, UnicodeDecodeError):
        return content.decode("utf-8", errors="replace"), False


def _snippet(text: str) -> str:
    return snippet(text, _SNIPPET_LEN)


def _read_success(http_status: int, text: str, env: Envelope) -> Reading | str:
    """The Reading of a code-0 answer read against the data contract, or why it is malformed.

    An answer that breaks the contract as a whole is still a Reading ("ok"), with its ``drift``: the
    fetch stores its body, then stops (client.py).
    """
    counts = FieldCounts()
    notes: tuple[Note, ...] = ()
    total: int | None = None
    try:
        data = PageData.model_validate(env.data)
    except ValidationError:
        drift: Drift | None = envelope_drift(env.data)
    else:
        notes, shape_error = read_notes(data.notes, counts)
        total, drift = data.total, judge_page(counts)
        if drift is None and shape_error is not None:
            return str(shape_error)
    return Reading(
        "ok",
        http_status,
        text,
        code=0,
        notes=notes,
        total=total,
        message=env.message,
        request_id=env.requestId,
        record_time=env.recordTime,
        counts=counts,
        drift=drift,
    )


def classify(
    http_status: int, headers: Mapping[str, str], content: bytes, *, user_id: str, page_number: int
) -> Reading:
    """The outcome of one response; never raises."""
    text, decoded = _decode(content, headers)
    doc: Any = None
    is_json = False
    if decoded:
        try:
            doc = json.loads(text)
            is_json = True
        except ValueError:
            pass

    def fail(cls: type[ApiError], outcome: Outcome, message: str, **extra: Any) -> Reading:
        code = extra.get("code")
        error = cls(
            message,
            code=code,
            http_status=http_status,
            user_id=user_id,
            page_number=page_number,
            kind=extra.get("kind"),
        )
        retry_after = parse_retry_after(headers.get("Retry-After")) if outcome == "slow_down" else None
        return Reading(outcome, http_status, text, code=code, error=error, retry_after_s=retry_after)

    if isinstance(doc, dict) and "code" in doc:
        try:
            env = Envelope.model_validate(doc)
        except ValidationError:
            return fail(MalformedResponse, "rejected", f"envelope code is {doc['code']!r}, not an integer")
        if env.code != 0:
            cls, outcome, meaning = CODE_TABLE.get(
                env.code, (UnknownCode, "rejected", "not in the code table")
            )
            # The specific classes already say what the code means; the generic ones need the meaning.
            parts = [meaning] if cls.summary != meaning else []
            parts += [f"API message: {_snippet(env.message)}"] if env.message else []
            detail = "; ".join(parts) or meaning
            return fail(cls, outcome, detail, code=env.code)
        if not 200 <= http_status < 300:
            return fail(MalformedResponse, "rejected", "code 0 with an error HTTP status", code=0)
        read = _read_success(http_status, text, env)
        return read if isinstance(read, Reading) else fail(MalformedResponse, "rejected", read, code=0)

    kind = f"http_{http_status}"
    if isinstance(doc, dict):
        # A framework error body ({timestamp, status, error, path}); "path" may hold the query string.
        detail = (
            _snippet(": ".join(str(doc[key]) for key in ("error", "message") if doc.get(key))) or "no detail"
        )
    elif text.lstrip().startswith("<"):
        detail = "HTML page"
    else:
        detail = _snippet(text) or "empty body"
    if http_status == 429:
        return fail(SlowDownError, "slow_down", f"HTTP 429 {detail}", kind=kind)
    if http_status >= 500:
        return fail(RetryableError, "retry", f"server or gateway error: {detail}", kind=kind)
    if http_status >= 400:
        cls = InvalidParameters if http_status == 400 else RequestRejected
        return fail(cls, "rejected", f"HTTP {http_status} {detail}", kind=kind)
    if http_status >= 300:
        # Redirects are not followed: the target would receive the token in its query string.
        return fail(RequestRejected, "rejected", "unexpected redirect (not followed)", kind=kind)
    if not is_json:
        reason = "truncated or non-JSON" if text else "empty"
        return fail(RetryableError, "retry", f"{reason} body on HTTP {http_status}", kind="bad_body")
    return fail(MalformedResponse, "rejected", "JSON body without an envelope code")


def build_page(
    reading: Reading,
    query: NotesQuery,
    page_number: int,
    *,
    attempts: int,
    latency_s: float,
    fetched_at: datetime,
) -> Page:
    """The Page of a successful reading."""
    return Page(
        user_id=query.user_id,
        page_number=page_number,
        query_params=query.to_params(page_number),
        total=reading.total,
        notes=reading.notes,
        raw_body=reading.text,
        http_status=reading.http_status,
        code=0,
        message=reading.message,
        request_id=reading.request_id,
        record_time=reading.record_time,
        fetched_at=fetched_at,
        attempts=attempts,
        latency_s=latency_s,
        counts=reading.counts,
        drift=reading.drift,
    )


def page_from_raw(
    query: NotesQuery,
    page_number: int,
    raw_body: str,
    *,
    fetched_at: datetime,
    attempts: int = 0,
    latency_s: float = 0.0,
) -> Page:
    """Rebuild a stored page (its exact body) as a Page, e.g. to pass it as ``known_pages`` on resume.

    Raises the ApiError the body stands for if it is not a successful page.
    """
    reading = classify(200, {}, raw_body.encode("utf-8"), user_id=query.user_id, page_number=page_number)
    if reading.error is not None:
        raise reading.error
    return build_page(
        reading, query, page_number, attempts=attempts, latency_s=latency_s, fetched_at=fetched_at
    )
