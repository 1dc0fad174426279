"""Parsed results of Notes Details (V1). Nothing past this module touches the vendor's raw dicts.

Parsing follows the data contract (``contract.py``), tolerant of additive change and strict about
meaning: unknown fields are kept in ``extra``; a missing or null value stays None (never 0, which would
read as "no reads"); a value present but unreadable (``"12.5"``, ``"1e3"``, ``""``, ``true`` for a
count) is None. Each is counted per field in ``Page.counts``; the note is kept either way. A page whose
notes break the contract as a whole carries its ``drift`` (``drift.py``). A list entry without a
``noteId`` cannot be stored or deduplicated, so it makes the whole page a ``MalformedResponse``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from .params import NotesQuery

if TYPE_CHECKING:
    from .drift import Drift
    from .field_counts import FieldCounts

# "no_content": code 201, the KOL has no content (billed, not retried, not a failure of the fetch).
Outcome = Literal["ok", "retry", "slow_down", "stop", "rejected", "no_content"]
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
    # Per field: nulls, missing keys, unreadable values, new keys (the contract's counts).
    counts: FieldCounts | None = None
    # Set when the notes break the contract as a whole: nothing of this page may be written.
    drift: Drift | None = None

    @property
    def null_metrics(self) -> int:
        return self.counts.null_metrics if self.counts else 0

    @property
    def invalid_values(self) -> int:
        return self.counts.invalid_values if self.counts else 0


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


class CallTally:
    """Thread-safe counts of the HTTP attempts made for one fetch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.retries = 0
        self.codes: Counter[int] = Counter()
        self.http_statuses: Counter[int] = Counter()

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self.calls += 1
            self.retries += record.attempt > 1
            if record.code is not None:
                self.codes[record.code] += 1
            if record.http_status is not None:
                self.http_statuses[record.http_status] += 1


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
