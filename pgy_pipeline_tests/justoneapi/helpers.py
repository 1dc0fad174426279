"""Shared test helpers: the distinctive token, fast client configs, vendor-shaped bodies."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pgy_pipeline.justoneapi import CallRecord, ClientConfig
from pgy_pipeline_tests.support import TEST_TOKEN as TOKEN

# Small waits everywhere: the suite must stay fast, and no test may sleep for long.
FAST: dict[str, Any] = {
    "connect_timeout_s": 1.0,
    "read_timeout_s": 2.0,
    "backoff_base_s": 0.001,
    "backoff_max_s": 0.01,
    "rate_limit_per_s": 2000.0,
    "rate_limit_min_per_s": 100.0,
}


def fast_config(base_url: str, **overrides: Any) -> ClientConfig:
    return ClientConfig(token=overrides.pop("token", TOKEN), base_url=base_url, **{**FAST, **overrides})


@dataclass
class Scripted:
    """A loopback server answering from a script of (status, headers, body), then 404s."""

    base_url: str = ""
    replies: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.replies.append((status, {"Content-Type": "application/json", **(headers or {})}, raw))


@dataclass
class Paged:
    """A loopback server answering by page number: ``answer(page, nth call of that page)`` gives the body."""

    answer: Callable[[int, int], Any]
    base_url: str = ""
    calls: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, path: str) -> bytes:
        page = int(parse_qs(urlsplit(path).query).get("pageNumber", ["1"])[0])
        with self.lock:
            nth = self.calls.count(page)
            self.calls.append(page)
        return json.dumps(self.answer(page, nth), ensure_ascii=False).encode()


def envelope(
    code: Any = 0, notes: list[dict[str, Any]] | None = None, total: int | None = None, **extra: Any
) -> dict:
    data = (
        None
        if code != 0
        else {"list": notes or [], "total": total if total is not None else len(notes or [])}
    )
    return {
        "code": code,
        "message": "success" if code == 0 else "error",
        "data": data,
        "recordTime": None,
        **extra,
    }


def vendor_note(note_id: str = "69ad5b0b000000002203ac87", **fields: Any) -> dict[str, Any]:
    note: dict[str, Any] = {
        "readNum": 1142,
        "likeNum": 53,
        "collectNum": 11,
        "isAdvertise": False,
        "isVideo": True,
        "noteId": note_id,
        "imgUrl": "http://ci.xiaohongshu.com/x.jpg",
        "title": "被儿子的女神节礼物整破防了😭",
        "brandName": None,
        "date": "2026-03-08",
        "thirdReadUserNum": 0,
    }
    note.update(fields)
    return note


class Flip:
    """An observer that records calls and runs ``action`` once after ``after`` attempts."""

    def __init__(self, action: Callable[[], Any] | None = None, after: int = 1) -> None:
        self.records: list[CallRecord] = []
        self.action = action
        self.after = after

    def __call__(self, record: CallRecord) -> None:
        self.records.append(record)
        if self.action is not None and len(self.records) == self.after:
            self.action()
