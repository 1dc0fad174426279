"""What the refresh's worker threads hand to the thread that writes: a KOL's fetch and its calls.

Worker threads fetch (and append pages to the raw layer); the engine's own thread takes both from
here, lands them (refresh/landing.py) and reports (refresh/engine.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pgy_pipeline.justoneapi import ApiError, CallRecord, FetchResult, NotesQuery


class CallLedger:
    """Collects CallRecords per KOL from the client's worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_user: dict[str, list[CallRecord]] = {}
        self.total = 0  # every call of the run, written or not

    def __call__(self, record: CallRecord) -> None:
        with self._lock:
            self._by_user.setdefault(record.user_id, []).append(record)
            self.total += 1

    def give_back(self, records: list[CallRecord]) -> None:
        with self._lock:
            for r in records:
                self._by_user.setdefault(r.user_id, []).append(r)

    def take(self, user_id: str) -> list[CallRecord]:
        with self._lock:
            return self._by_user.pop(user_id, [])


@dataclass
class Fetched:
    """What a worker thread hands back: a KOL's fetch, complete or failed, not yet in DuckDB."""

    query: NotesQuery
    fetch_id: str | None
    started: float  # monotonic, for the duration
    result: FetchResult | None = None
    error: ApiError | None = None
    failed_pages: Mapping[int, int | str] = field(default_factory=dict)
    started_at: datetime | None = None  # when its first page was bought
    internal: str | None = None  # a bug or storage failure outside the API
    # An incremental fetch (stopped at a date): never full, never proof that a note is gone.
    windowed: bool = False
    unwritten: bool = False  # complete in the raw layer, but the DuckDB write failed
