"""Synthesise a raw layer of N notes (as if bought from the API) for the normalisation benchmark.

Pages are the simulator's own answers (same data, same envelope), written in the raw store's
format, so the benchmark replays exactly what a refresh would have stored.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pgy_pipeline.justoneapi import NotesQuery
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse.raw import RawPage, RawStore, encode_line
from pgy_pipeline.warehouse.replay import fetch_row_to_json
from pgy_pipeline.warehouse.writes import FetchRow

NOTES_PER_KOL = 250
PAGE = 8


def generate(data_dir: Path, total_notes: int) -> int:
    kols = total_notes // NOTES_PER_KOL
    counts = {f"bench{i:05d}": NOTES_PER_KOL for i in range(kols)}
    sim = Simulator("clean", seed=1, fixed_counts=counts)  # not started: only its data is used
    raw = RawStore(data_dir)
    now = datetime.now(UTC).isoformat()
    written = 0
    for user_id in counts:
        q = NotesQuery(user_id)
        fetch_id = raw.begin(user_id, q.fingerprint(), {}, "bench")
        notes = sim.expected_notes(user_id)
        lines = []
        for p in range(0, len(notes), PAGE):
            page_no = p // PAGE + 1
            body: dict[str, Any] = {
                "code": 0,
                "message": "success",
                "data": {"list": notes[p : p + PAGE], "total": len(notes)},
                "recordTime": now,
                "requestId": uuid.uuid4().hex,
            }
            rp = RawPage(
                fetch_id,
                user_id,
                page_no,
                q.to_params(page_no),
                now,
                "bench",
                200,
                0,
                body["requestId"],
                now,
                1,
                0.1,
                json.dumps(body, ensure_ascii=False),
            )
            lines.append(encode_line(rp))
        path = raw.root / user_id / f"{fetch_id}.jsonl"
        path.write_text("".join(lines), encoding="utf-8")
        raw.mark_done(
            user_id, fetch_id, fetch_row_to_json(_row(user_id, fetch_id, q, len(notes), len(lines), now))
        )
        written += len(notes)
    return written


def _row(user_id: str, fetch_id: str, q: NotesQuery, notes: int, pages: int, at: str) -> FetchRow:
    now = datetime.fromisoformat(at)  # the fetch starts with its first page
    return FetchRow(
        fetch_id,
        user_id,
        "bench",
        q.advertise_switch.value,
        q.order_type.value,
        q.note_type.value,
        q.is_third_platform.value,
        True,
        "complete",
        now,
        now,
        notes,
        notes,
        notes,
        pages,
        0,
        pages,
        0,
        0,
        0,
        "short_page",
    )


if __name__ == "__main__":
    target = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    t = time.perf_counter()
    print(f"wrote {generate(target, n)} notes in {time.perf_counter() - t:.1f} s to {target}")
