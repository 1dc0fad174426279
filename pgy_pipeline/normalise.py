"""Between the client's typed pages and the warehouse's frames: pure conversions.

Also the replay path: re-normalise stored raw pages into the warehouse without buying
anything again (after a schema change, a bug fix, or to rebuild a lost database).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import pandas as pd

from pgy_pipeline.justoneapi import ApiError, CallRecord, FetchResult, NotesQuery, Page
from pgy_pipeline.justoneapi import page_from_raw as parse_stored_page
from pgy_pipeline.warehouse.raw import RawPage, RawStore
from pgy_pipeline.warehouse.writes import CALL_COLUMNS, NOTE_DTYPES, FetchRow


class RawPageError(ValueError):
    """A stored page that no longer parses as a successful page."""


def raw_from_page(page: Page, fetch_id: str, run_id: str | None) -> RawPage:
    return RawPage(
        fetch_id=fetch_id,
        user_id=page.user_id,
        page_number=page.page_number,
        params=dict(page.query_params),
        fetched_at=page.fetched_at.isoformat(),
        run_id=run_id,
        http_status=page.http_status,
        code=page.code,
        request_id=page.request_id,
        record_time=page.record_time,
        attempts=page.attempts,
        latency_s=page.latency_s,
        body=page.raw_body,
    )


def page_from_raw(raw: RawPage, query: NotesQuery) -> Page:
    """Rebuild the typed Page from a stored body with the client's own parser."""
    try:
        return parse_stored_page(
            query, raw.page_number, raw.body, fetched_at=datetime.fromisoformat(raw.fetched_at)
        )
    except ApiError as exc:
        raise RawPageError(
            f"stored page {raw.page_number} of fetch {raw.fetch_id} does not parse: {exc}"
        ) from None


def _note_rows(user_id: str, fetch_id: str, pages: Iterable[Page]) -> dict[str, list[object]]:
    cols: dict[str, list[object]] = {c: [] for c in NOTE_DTYPES}
    seen: set[str] = set()
    for page in sorted(pages, key=lambda p: p.page_number):
        for n in page.notes:
            if n.note_id in seen:  # a note that moved between pages: first sighting wins
                continue
            seen.add(n.note_id)
            cols["user_id"].append(user_id)
            cols["note_id"].append(n.note_id)
            cols["fetch_id"].append(fetch_id)
            cols["fetched_at"].append(page.fetched_at)
            cols["page_number"].append(page.page_number)
            cols["title"].append(n.title)
            cols["publish_date"].append(n.publish_date)
            cols["is_video"].append(n.is_video)
            cols["is_advertise"].append(n.is_advertise)
            cols["brand_name"].append(n.brand_name)
            cols["img_url"].append(n.img_url)
            cols["read_num"].append(n.read_num)
            cols["like_num"].append(n.like_num)
            cols["collect_num"].append(n.collect_num)
            cols["third_read_user_num"].append(n.third_read_user_num)
    return cols


def _frame(cols: dict[str, list[object]]) -> pd.DataFrame:
    df = pd.DataFrame(cols)
    df["fetched_at"] = pd.to_datetime(df["fetched_at"], utc=True)
    df["publish_date"] = pd.to_datetime(df["publish_date"])
    return df.astype(NOTE_DTYPES)


def notes_frame(user_id: str, fetch_id: str, result: FetchResult) -> pd.DataFrame:
    """One row per distinct note of a fetch, with the page and time it was read at."""
    return _frame(_note_rows(user_id, fetch_id, result.pages))


def calls_frame(calls: Sequence[CallRecord], run_id: str | None, fetch_id: str | None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "called_at": pd.to_datetime([c.at for c in calls], utc=True),
            "user_id": [c.user_id for c in calls],
            "page_number": [c.page_number for c in calls],
            "attempt": [c.attempt for c in calls],
            "http_status": pd.array([c.http_status for c in calls], dtype="Int64"),
            "code": pd.array([c.code for c in calls], dtype="Int64"),
            "outcome": [c.outcome for c in calls],
            "latency_ms": [c.latency_s * 1000.0 for c in calls],
            "run_id": [run_id] * len(calls),
            "fetch_id": [fetch_id] * len(calls),
        },
        columns=CALL_COLUMNS,
    )


def replay_fetch(raw: RawStore, user_id: str, fetch_id: str) -> tuple[FetchRow, dict[str, list[object]]]:
    """The fetches row and note columns of one completed stored fetch, without any API call."""
    meta = raw.meta(user_id, fetch_id)
    query = NotesQuery(user_id, **meta.filters)
    pages = [page_from_raw(rp, query) for rp in raw.pages(user_id, fetch_id).values()]
    done = json.loads((raw.root / user_id / f"{fetch_id}.done.json").read_text(encoding="utf-8"))
    cols = _note_rows(user_id, fetch_id, pages)
    times = [p.fetched_at for p in pages]
    totals = [p.total for p in pages if p.total is not None]
    row = FetchRow(
        fetch_id=fetch_id,
        user_id=user_id,
        run_id=meta.run_id,
        advertise_switch=query.advertise_switch.value,
        order_type=query.order_type.value,
        note_type=query.note_type.value,
        is_third_platform=query.is_third_platform.value,
        is_full=query.is_unfiltered,
        status=str(done.get("status", "complete")),
        started_at=min(times, default=None),
        finished_at=max(times, default=datetime.now(UTC)),
        reported_total=max(totals, default=None),
        reported_total_min=min(totals, default=None),
        notes_returned=len(cols["note_id"]),
        pages=len(pages),
        pages_reused=0,
        calls=0,
        retries=0,
        null_metrics=sum(p.null_metrics for p in pages),
        duplicates_dropped=sum(len(p.notes) for p in pages) - len(cols["note_id"]),
        stop_reason=None,
        message="replayed from the raw layer",
    )
    return row, cols


def replay_frames(raw: RawStore, fetches: Iterable[tuple[str, str]]) -> tuple[list[FetchRow], pd.DataFrame]:
    """Fetch rows and one notes frame for many stored fetches (bulk, for one write)."""
    rows: list[FetchRow] = []
    cols: dict[str, list[object]] = {c: [] for c in NOTE_DTYPES}
    for user_id, fetch_id in fetches:
        row, c = replay_fetch(raw, user_id, fetch_id)
        rows.append(row)
        for k, v in c.items():
            cols[k].extend(v)
    return rows, _frame(cols)
