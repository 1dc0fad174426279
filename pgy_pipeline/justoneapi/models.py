"""Parsed results of Notes Details (V1). Nothing past this module touches the vendor's raw dicts.

Parsing is tolerant of additive change and strict about meaning: unknown fields are kept in ``extra``; a
missing or null metric stays None (never 0, which would read as "no reads") and is counted in
``Page.null_metrics``; a value present but unreadable (``"12.5"``, ``"1e3"``, ``""``, ``true`` for a count)
is None and counted in ``Page.invalid_values``. The note is kept either way. A list entry without a
``noteId`` cannot be stored or deduplicated, so it makes the whole page a ``MalformedResponse``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from .params import NotesQuery

Outcome = Literal["ok", "retry", "slow_down", "stop", "rejected"]
# Why a fetch ended; see FetchResult. Only "total_reached" and "empty_page" are complete.
StopReason = Literal[
    "total_reached",
    "empty_page",
    "short_of_total",
    "no_total",
    "window_reached",
    "page_cap",
    "failed",
]
COMPLETE_STOPS: frozenset[str] = frozenset({"total_reached", "empty_page"})

_METRICS = {
    "readNum": "read_num",
    "likeNum": "like_num",
    "collectNum": "collect_num",
    "thirdReadUserNum": "third_read_user_num",
}
_FLAGS = {"isVideo": "is_video", "isAdvertise": "is_advertise"}
_TEXTS = {"title": "title", "brandName": "brand_name", "imgUrl": "img_url"}
KNOWN_FIELDS = frozenset({"noteId", "date", *_METRICS, *_FLAGS, *_TEXTS})
_DIGITS = re.compile(r"[0-9]{1,18}")
# Only YYYY-MM-DD: date.fromisoformat alone also takes "20260308" and "2026-W10-7", which the
# warehouse's SQL reading (warehouse/normalise.py) does not; both must read the same dates.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Note:
    """One note of a KOL as the endpoint reports it at fetch time (metrics are cumulative to that time)."""

    note_id: str
    title: str | None
    publish_date: date | None
    is_video: bool | None
    is_advertise: bool | None
    brand_name: str | None
    img_url: str | None
    read_num: int | None
    like_num: int | None
    collect_num: int | None
    third_read_user_num: int | None
    # Fields the vendor added after this client was written, kept verbatim.
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page:
    """One successful (code 0) response: the parsed notes plus the exact body for the raw layer."""

    user_id: str
    page_number: int
    query_params: Mapping[str, Any]  # as sent, without the token
    total: int | None
    notes: tuple[Note, ...]
    raw_body: str
    http_status: int
    code: int
    message: str | None
    request_id: str | None
    record_time: str | None
    fetched_at: datetime  # aware, UTC
    attempts: int
    latency_s: float  # of the successful attempt
    null_metrics: int = 0
    invalid_values: int = 0


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One HTTP attempt (retries included), as reported to the client's observer."""

    user_id: str
    page_number: int
    attempt: int
    http_status: int | None
    code: int | None
    outcome: Outcome
    latency_s: float
    error: str | None  # redacted
    at: datetime  # aware, UTC, when the attempt started


@dataclass(frozen=True, slots=True)
class FetchResult:
    """Every page of one query that this fetch read or reused, and what it cost.

    ``notes`` are deduplicated by note id (first occurrence in page order wins: notes move between pages
    while paging); every note here was really listed, whatever the stop reason. ``total`` is the largest
    total any page reported and ``total_min`` the smallest (it drifts between calls, mostly down as notes
    are deleted). ``calls``, ``codes``, ``http_statuses`` and ``retries`` count this fetch's HTTP
    attempts only; ``rereads`` counts pages bought a second time to settle a contradiction (at most 1).

    ``complete`` is True only on evidence that every note of the query was listed, which is what marking
    notes "gone" needs. ``stop_reason`` says why paging ended:

    - "total_reached" (complete): the distinct notes reached the smallest total reported.
    - "empty_page" (complete): page 1 was empty and the API said total 0.
    - "short_of_total": an empty or short page ended the list with fewer distinct notes than the total
      (after one re-read of that page); the API contradicted itself, so notes may be missing.
    - "no_total": the list ended but no page reported a usable total, so nothing shows it was all.
    - "window_reached": ``windowed`` fetch (``stop_before``) stopped at the first page reaching back
      before the window; older notes were deliberately not read.
    - "page_cap": the hard page cap stopped the fetch.
    - "failed": a page failed (only seen on FetchIncomplete.result).

    ``windowed`` is True when the fetch was asked to stop at a date; it may still be complete if the
    whole list was read before the window was reached.
    """

    query: NotesQuery
    pages: tuple[Page, ...]
    notes: tuple[Note, ...]
    total: int | None
    calls: int
    pages_fetched: int
    pages_reused: int
    codes: Mapping[int, int]
    http_statuses: Mapping[int, int]
    retries: int
    duplicates_dropped: int
    stop_reason: StopReason
    complete: bool
    total_min: int | None = None
    windowed: bool = False
    rereads: int = 0


@dataclass(slots=True)
class _Counts:
    null_metrics: int = 0
    invalid_values: int = 0


def read_int(value: Any) -> tuple[int | None, bool]:
    """(value as int or None, whether it was present but unreadable). Digit strings are accepted."""
    if value is None:
        return None, False
    if isinstance(value, bool):
        return None, True
    if isinstance(value, int):
        return value, False
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value), False
    return None, True


def _read_bool(value: Any) -> tuple[bool | None, bool]:
    if value is None:
        return None, False
    if isinstance(value, bool):
        return value, False
    if isinstance(value, int) and value in (0, 1):
        return bool(value), False
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true", False
    return None, True


def _read_date(value: Any) -> tuple[date | None, bool]:
    if value is None:
        return None, False
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value), False
        except ValueError:
            pass
    return None, True


def _read_text(value: Any) -> tuple[str | None, bool]:
    if value is None or isinstance(value, str):
        return value, False
    return None, True


class NoteShapeError(ValueError):
    """A list entry that cannot be a note (not an object, or without a string noteId)."""


def parse_note(item: Any, counts: _Counts) -> Note:
    if not isinstance(item, dict):
        raise NoteShapeError(f"list entry is {type(item).__name__}, not an object")
    note_id = item.get("noteId")
    if not isinstance(note_id, str) or not note_id:
        raise NoteShapeError("list entry without a string noteId")
    values: dict[str, Any] = {}
    for source, target in _METRICS.items():
        raw = item.get(source)
        values[target], invalid = read_int(raw)
        counts.null_metrics += raw is None
        counts.invalid_values += invalid
    readers = ((_FLAGS, _read_bool), (_TEXTS, _read_text), ({"date": "publish_date"}, _read_date))
    for names, reader in readers:
        for source, target in names.items():
            values[target], invalid = reader(item.get(source))  # type: ignore[operator]
            counts.invalid_values += invalid
    extra = {key: value for key, value in item.items() if key not in KNOWN_FIELDS}
    return Note(note_id=note_id, extra=extra, **values)


def parse_notes(items: list[Any]) -> tuple[tuple[Note, ...], int, int]:
    """(notes, null metrics, invalid values) of ``data.list``; raises NoteShapeError on a note without id."""
    counts = _Counts()
    notes = tuple(parse_note(item, counts) for item in items)
    return notes, counts.null_metrics, counts.invalid_values
