"""The dlt peer of bench/side_by_side.py: dlt's `rest_api` source reads every KOL's pages into DuckDB.

Runs in its own virtualenv (built by side_by_side.py from the `bench` group of uv.lock), so it
imports nothing of pgy_pipeline. Usage: dlt_peer.py BASE_URL KOLS_FILE OUT_DIR (the figures leave
out the KOL `warmup0`, which side_by_side.py runs first so the pipeline's state and schema exist).

What a dlt user would write: a `kols` resource as the parent, a `notes` child resource per KOL
with a page-number paginator, dlt's defaults otherwise (sequential extract, normalise, load to
DuckDB). The one custom piece is the paginator's stop rule: the endpoint reports its total in
notes, not pages, and dlt's PageNumberPaginator only stops on a total of pages or an empty page
(one more call per KOL); this one stops when the notes seen reach the total or a page is short,
as pgy and the plain loop do, so the three buy the same pages. Prints one JSON line of figures.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import dlt
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
from dlt.sources.rest_api import rest_api_source

ENDPOINT = "/api/xiaohongshu-pgy/api/solar/kol/dataV2/notesDetail/v1"
CALLS: dict[str, Any] = {"n": 0, "first": None, "last": None}


class NotesPaginator(PageNumberPaginator):
    """Page numbers from 1; stops when the notes seen reach `data.total` or a page is short."""

    def __init__(self) -> None:
        super().__init__(base_page=1, page_param="pageNumber", total_path=None, stop_after_empty_page=True)
        self.seen = 0
        self.size = 0

    def init_request(self, request: Any) -> None:
        self.seen = 0
        self.size = 0
        super().init_request(request)

    def update_state(self, response: Any, data: list[Any] | None = None) -> None:
        CALLS["n"] += 1
        CALLS["last"] = time.time()
        body = response.json()
        total = (body.get("data") or {}).get("total") or 0
        items = data or []
        self.seen += len(items)
        self.size = max(self.size, len(items))
        super().update_state(response, data)
        if not items or self.seen >= total or len(items) < self.size:
            self._has_next_page = False


def source(base_url: str, user_ids: list[str]) -> Any:
    @dlt.resource(name="kols", selected=False)
    def kols() -> Any:
        CALLS["first"] = CALLS["first"] or time.time()
        yield [{"user_id": u} for u in user_ids]

    return rest_api_source(
        {
            "client": {"base_url": base_url, "paginator": NotesPaginator()},
            "resources": [
                kols,
                {
                    "name": "notes",
                    "endpoint": {
                        "path": ENDPOINT,
                        "params": {"token": "bench", "userId": "{resources.kols.user_id}"},
                        "data_selector": "data.list",
                    },
                    "include_from_parent": ["user_id"],
                },
            ],
        }
    )


def run(base_url: str, user_ids: list[str], out: Path) -> Any:
    pipeline = dlt.pipeline(
        pipeline_name="notes_bench",
        pipelines_dir=str(out / "pipelines"),
        destination=dlt.destinations.duckdb(str(out / "dlt.duckdb")),
        dataset_name="pgy",
    )
    return pipeline.run(source(base_url, user_ids))


def main() -> None:
    base_url, kols_file, out_dir = sys.argv[1:4]
    out = Path(out_dir)
    user_ids = [u for u in Path(kols_file).read_text(encoding="utf-8").split() if u]
    started = time.time()
    run(base_url, user_ids, out)
    ended = time.time()
    import duckdb

    with duckdb.connect(str(out / "dlt.duckdb"), read_only=True) as conn:
        rows, distinct, reads, likes = conn.execute(
            "SELECT count(*), count(DISTINCT (_kols_user_id, note_id)), sum(read_num), sum(like_num)"
            " FROM pgy.notes WHERE _kols_user_id <> 'warmup0'"
        ).fetchone()
    print(
        json.dumps(
            {
                "calls": CALLS["n"],
                "run_s": ended - started,
                "first_call_epoch": CALLS["first"],
                "last_call_epoch": CALLS["last"],
                "end_epoch": ended,
                "rows": rows,
                "distinct_notes": distinct,
                "sum_read": int(reads or 0),
                "sum_like": int(likes or 0),
            }
        )
    )


if __name__ == "__main__":
    main()
