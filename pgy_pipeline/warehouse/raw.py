"""The raw layer: every page bought from the API, kept losslessly on disk.

Layout under ``<data>/raw/<user_id>/``:

- ``<fetch_id>.meta.json``: the fetch's filters (fingerprint), run id and start time.
- ``<fetch_id>.jsonl``: one line per successful page, appended (and fsync'd: at once, or per
  group of pages inside ``RawStore.syncing``, always before DuckDB gets them) as soon as the page
  arrives: request parameters (never the token), page number, fetched-at time,
  run id, HTTP status, code, requestId, and the response body. The body is embedded
  byte for byte as the line's last value (``"body": <body>}``): it is valid JSON (the
  client parsed it), so DuckDB reads metadata and notes in one pass, and the exact bytes
  are recovered by slicing. A body holding a line break (pretty-printed) would break the
  line, so it is kept as an escaped string in ``body_text`` instead.
- ``<fetch_id>.done.json``: written atomically when the fetch ended without error (its
  ``fetches`` row, status complete or incomplete), once DuckDB has it.
- ``<fetch_id>.failed.json``: the ``fetches`` row of the last failed attempt, so that a
  rebuild from the raw layer has every row of ``fetches`` (``warehouse/replay.py``).

A fetch without ``done`` was interrupted (failure, crash). A retry of the same KOL with
the same filters resumes it: the pages already on disk are reused instead of being
bought again. Lines are only ever appended; a line cut by a crash is ignored on read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Inside ``RawStore.syncing``, a fetch's pages are fsync'd in groups of at most this many: a power
# cut (not a process crash: written pages are in the OS's cache) re-buys at most these.
SYNC_EVERY_PAGES = 64
# Seals written side by side (mark_done_many): enough for the filesystem (or the bucket) to
# take them together.
SEAL_THREADS = 8


@dataclass(frozen=True, slots=True)
class RawPage:
    """One stored page (a line of a fetch's .jsonl file)."""

    fetch_id: str
    user_id: str
    page_number: int
    params: Mapping[str, Any]
    fetched_at: str  # ISO 8601, UTC
    run_id: str | None
    http_status: int
    code: int
    request_id: str | None
    record_time: str | None
    attempts: int
    latency_s: float
    body: str  # the response body exactly as received


@dataclass(frozen=True, slots=True)
class FetchMeta:
    fetch_id: str
    user_id: str
    fingerprint: str
    filters: Mapping[str, str]
    run_id: str | None
    created_at: str


_BODY_MARK = ', "body": '


def _fields(record: RawPage | FetchMeta) -> dict[str, Any]:
    """A record's fields as a dict, its mappings as dicts; nothing deep-copied, as
    dataclasses.asdict does (35 µs a record, paid for every page and every fetch)."""
    return {
        name: dict(value) if isinstance(value, Mapping) else value
        for name in record.__slots__
        for value in (getattr(record, name),)
    }


def encode_line(page: RawPage) -> str:
    """One .jsonl line: metadata, then the body's exact bytes as the last value."""
    meta = _fields(page)
    body = meta.pop("body")
    if "\n" in body or "\r" in body:
        meta["body_text"] = body
        return json.dumps(meta, ensure_ascii=False)[:-1] + _BODY_MARK + "null}\n"
    # JSON escapes every quote inside strings, so the marker can only be this structural one.
    return json.dumps(meta, ensure_ascii=False)[:-1] + _BODY_MARK + body + "}\n"


def decode_line(line: str) -> RawPage:
    data = json.loads(line)
    data.pop("body", None)
    text = data.pop("body_text", None)
    if text is None:
        start = line.index(_BODY_MARK) + len(_BODY_MARK)
        text = line[start : line.rstrip("\n").rindex("}")]
    return RawPage(**data, body=text)


def new_fetch_id(now: datetime | None = None) -> str:
    """Sortable by time, unique across processes."""
    ts = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"{ts}-{uuid.uuid4().hex[:10]}"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RawStore:
    """Files of raw pages under ``<data_dir>/raw``. Thread-safe for appends."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir) / "raw"
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        # Fetches whose fsyncs are grouped (``syncing``): pages appended since their last fsync.
        self._grouped: dict[str, int] = {}

    def _dir(self, user_id: str) -> Path:
        # user ids are validated upstream (^[A-Za-z0-9_-]{1,64}$); refuse anything that could escape.
        if not user_id or "/" in user_id or user_id in (".", "..") or "\x00" in user_id:
            raise ValueError(f"unsafe user_id for a path: {user_id!r}")
        return self.root / user_id

    def _lock(self, fetch_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(fetch_id, threading.Lock())

    # -- writing ---------------------------------------------------------------------------

    def begin(
        self,
        user_id: str,
        fingerprint: str,
        filters: Mapping[str, str],
        run_id: str | None,
        now: datetime | None = None,
    ) -> str:
        # ``now``: the pipeline's clock (a pinned simulated day), so that "fresh" and
        # "resumable" are judged in the same time as the fetch was made.
        now = now or datetime.now(UTC)
        fetch_id = new_fetch_id(now)
        meta = FetchMeta(fetch_id, user_id, fingerprint, dict(filters), run_id, now.isoformat())
        self._put(user_id, f"{fetch_id}.meta.json", json.dumps(_fields(meta)))
        return fetch_id

    def append(self, page: RawPage) -> None:
        """Persist one page before the caller moves on: fsync'd at once, or inside ``syncing`` with
        the fetch's group (at the block's end or every SYNC_EVERY_PAGES pages)."""
        line = encode_line(page)
        path = self.fetch_file(page.user_id, page.fetch_id)
        with self._lock(page.fetch_id), open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            unsynced = self._grouped.get(page.fetch_id)
            if unsynced is None or unsynced + 1 >= SYNC_EVERY_PAGES:
                os.fsync(fh.fileno())
                unsynced = -1
            if page.fetch_id in self._grouped:
                self._grouped[page.fetch_id] = unsynced + 1

    @contextlib.contextmanager
    def syncing(self, user_id: str, fetch_id: str) -> Iterator[None]:
        """Group the fsyncs of the fetch's appends in this block: one when it ends (normally or
        not) instead of one per page. The caller hands the fetch to DuckDB only after the block,
        so its pages stay durable before DuckDB holds their rows. An fsync that fails raises here."""
        with self._lock(fetch_id):
            self._grouped[fetch_id] = 0
        try:
            yield
        finally:
            with self._lock(fetch_id):
                if self._grouped.pop(fetch_id, 0):
                    self._sync(user_id, fetch_id)

    def _sync(self, user_id: str, fetch_id: str) -> None:
        fd = os.open(self.fetch_file(user_id, fetch_id), os.O_RDONLY)
        try:
            os.fsync(fd)  # Linux: flushes the file's data written through any descriptor
        finally:
            os.close(fd)

    def mark_done(self, user_id: str, fetch_id: str, summary: Mapping[str, Any]) -> None:
        """Seal a fetch: every page is stored; ``summary`` (its fetches row) is kept for replays."""
        self._put(user_id, f"{fetch_id}.done.json", json.dumps(dict(summary), ensure_ascii=False))

    def mark_done_many(self, seals: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """``mark_done`` for many fetches, side by side: each file is still written and fsync'd
        on its own, but the fsyncs overlap and the filesystem commits them together (a seal each,
        one after another, cost the step ~1.3 ms of waiting per KOL)."""
        if len(seals) <= 1:
            for seal in seals:
                self.mark_done(*seal)
            return
        with ThreadPoolExecutor(max_workers=min(SEAL_THREADS, len(seals)), thread_name_prefix="seal") as pool:
            for _ in pool.map(lambda seal: self.mark_done(*seal), seals):
                pass  # re-raises the first failure

    def mark_failed(self, user_id: str, fetch_id: str, summary: Mapping[str, Any]) -> None:
        """Keep the fetches row of a failed attempt; the fetch stays resumable (no ``done``)."""
        self._put(user_id, f"{fetch_id}.failed.json", json.dumps(dict(summary), ensure_ascii=False))

    def fetch_file(self, user_id: str, fetch_id: str) -> Path:
        return self._dir(user_id) / f"{fetch_id}.jsonl"

    def done_summary(self, user_id: str, fetch_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self._get(user_id, f"{fetch_id}.done.json"))
        return data

    def summary(self, user_id: str, fetch_id: str) -> dict[str, Any]:
        """The fetches row last recorded for a fetch: its done one, else its last failed attempt's."""
        name = f"{fetch_id}.done.json"
        if not self._has(user_id, name):
            name = f"{fetch_id}.failed.json"
        data: dict[str, Any] = json.loads(self._get(user_id, name))
        return data

    # -- the small objects beside the pages (meta, done, failed): a file each ------------------

    def _put(self, user_id: str, name: str, text: str) -> None:
        d = self._dir(user_id)
        d.mkdir(parents=True, exist_ok=True)
        _write_atomic(d / name, text)

    def _get(self, user_id: str, name: str) -> str:
        return (self._dir(user_id) / name).read_text(encoding="utf-8")

    def _has(self, user_id: str, name: str) -> bool:
        return (self._dir(user_id) / name).exists()

    # -- reading ---------------------------------------------------------------------------

    def meta(self, user_id: str, fetch_id: str) -> FetchMeta:
        return FetchMeta(**json.loads(self._get(user_id, f"{fetch_id}.meta.json")))

    def is_done(self, user_id: str, fetch_id: str) -> bool:
        return self._has(user_id, f"{fetch_id}.done.json")

    def location(self, user_id: str, fetch_id: str) -> str:
        """Where a fetch's pages are, for people (a file path here; a bucket URL in raw_bucket.py)."""
        return str(self.fetch_file(user_id, fetch_id))

    def pages(self, user_id: str, fetch_id: str) -> dict[int, RawPage]:
        """The stored pages of a fetch by page number (the latest copy of a page wins)."""
        path = self._dir(user_id) / f"{fetch_id}.jsonl"
        out: dict[int, RawPage] = {}
        if not path.exists():
            return out
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.endswith("\n"):
                    log.warning("ignoring a cut last line %d of %s (interrupted write)", lineno, path.name)
                    break
                try:
                    page = decode_line(line)
                except (ValueError, TypeError, KeyError):
                    log.warning("ignoring unreadable line %d of %s", lineno, path.name)
                    continue
                out[page.page_number] = page
        return out

    def fetch_ids(self, user_id: str) -> list[str]:
        d = self._dir(user_id)
        if not d.exists():
            return []
        return sorted(p.name[: -len(".meta.json")] for p in d.glob("*.meta.json"))

    def resumable(
        self, user_id: str, fingerprint: str, max_age: timedelta, now: datetime | None = None
    ) -> str | None:
        """The newest unfinished fetch of these filters younger than ``max_age``, if any."""
        now = now or datetime.now(UTC)
        for fetch_id in reversed(self.fetch_ids(user_id)):
            meta = self.meta(user_id, fetch_id)
            if now - datetime.fromisoformat(meta.created_at) > max_age:
                return None
            if meta.fingerprint == fingerprint:
                return None if self.is_done(user_id, fetch_id) else fetch_id
        return None

    def done_within(
        self,
        user_id: str,
        fingerprint: str,
        max_age: timedelta,
        now: datetime | None = None,
        *,
        full_only: bool = False,
    ) -> str | None:
        """The newest completed fetch of these filters younger than ``max_age``, if any.

        ``full_only``: only a fetch that read the whole list counts (an incremental fetch,
        which stopped at its date window, does not make a full refresh unnecessary).
        """
        now = now or datetime.now(UTC)
        for fetch_id in reversed(self.fetch_ids(user_id)):
            meta = self.meta(user_id, fetch_id)
            created = datetime.fromisoformat(meta.created_at)
            if now - created > max_age:
                return None
            if created > now:  # made on a later (pinned) day than the one being run
                continue
            if meta.fingerprint == fingerprint and self.is_done(user_id, fetch_id):
                if full_only and self.done_summary(user_id, fetch_id).get("status") != "complete":
                    continue
                return fetch_id
        return None

    def holds_data(self) -> bool:
        """True once any page was stored (the data dir then has a source to keep)."""
        return self.root.exists() and any(d.is_dir() and any(d.glob("*.jsonl")) for d in self.root.iterdir())

    def iter_done_fetches(self) -> Iterator[tuple[str, str]]:
        """(user_id, fetch_id) of every completed fetch, for replaying normalisation."""
        if not self.root.exists():
            return
        for d in sorted(self.root.iterdir()):
            if d.is_dir():
                for p in sorted(d.glob("*.done.json")):
                    yield d.name, p.name[: -len(".done.json")]

    def iter_recorded_fetches(self) -> Iterator[tuple[str, str]]:
        """(user_id, fetch_id) of every fetch with a recorded row (done or failed), for a rebuild."""
        if not self.root.exists():
            return
        for d in sorted(self.root.iterdir()):
            if d.is_dir():
                ids = {p.name.split(".", 1)[0] for p in d.glob("*.done.json")}
                ids |= {p.name.split(".", 1)[0] for p in d.glob("*.failed.json")}
                for fetch_id in sorted(ids):
                    yield d.name, fetch_id
