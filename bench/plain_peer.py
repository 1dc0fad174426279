"""The plain-loop peer of bench/side_by_side.py: one `requests.Session`, KOL after KOL, page after page.

Usage: python -m bench.plain_peer BASE_URL KOLS_FILE

What a short script does with no pipeline around it: no threads, no raw layer, no database,
no retries (the `clean` simulator answers every call); it parses each page and keeps the notes
in memory. The lower bound of what Python and `requests` cost per page on this machine.
Prints one JSON line of figures.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import requests

ENDPOINT = "/api/xiaohongshu-pgy/api/solar/kol/dataV2/notesDetail/v1"


def main() -> None:
    base_url, kols_file = sys.argv[1:3]
    user_ids = [u for u in Path(kols_file).read_text(encoding="utf-8").split() if u]
    started = time.time()
    calls = 0
    notes: dict[tuple[str, str], dict] = {}
    with requests.Session() as session:
        for user_id in user_ids:
            page, seen, size = 1, 0, 0
            while True:
                response = session.get(
                    base_url + ENDPOINT,
                    params={"token": "bench", "userId": user_id, "pageNumber": str(page)},
                    timeout=(10, 60),
                )
                calls += 1
                body = response.json()
                if body["code"] != 0:
                    sys.exit(
                        f"code {body['code']} for {user_id} page {page}: the clean simulator never says so"
                    )
                items = body["data"]["list"]
                for note in items:
                    notes[(user_id, note["noteId"])] = note
                seen += len(items)
                size = max(size, len(items))
                if not items or seen >= body["data"]["total"] or len(items) < size:
                    break
                page += 1
    ended = time.time()
    print(
        json.dumps(
            {
                "calls": calls,
                "run_s": ended - started,
                "first_call_epoch": started,
                "last_call_epoch": ended,
                "end_epoch": ended,
                "rows": len(notes),
                "distinct_notes": len(notes),
                "sum_read": sum(n["readNum"] or 0 for n in notes.values()),
                "sum_like": sum(n["likeNum"] or 0 for n in notes.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
