"""Conversions between the client's typed pages, the raw layer and the warehouse's rows.

The note rows themselves are produced in SQL (``warehouse/normalise.py``); this module
only moves a page's envelope, a call record or a fetch summary from one form to another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pgy_pipeline.justoneapi import (
    ApiError,
    CallRecord,
    FetchResult,
    NotesQuery,
    Page,
    is_billed,
    page_from_raw,
)
from pgy_pipeline.justoneapi.field_counts import FieldCounts
from pgy_pipeline.refresh.outcomes import error_kind, failed_pages_text
from pgy_pipeline.warehouse.raw import RawPage
from pgy_pipeline.warehouse.writes import CALL_COLUMNS, FetchRow

if TYPE_CHECKING:
    import pandas as pd


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


def page_from_stored(raw: RawPage, query: NotesQuery) -> Page:
    """Rebuild the typed Page from a stored body with the client's own parser."""
    try:
        return page_from_raw(
            query, raw.page_number, raw.body, fetched_at=datetime.fromisoformat(raw.fetched_at)
        )
    except ApiError as exc:
        raise RawPageError(
            f"stored page {raw.page_number} of fetch {raw.fetch_id} does not parse: {exc}"
        ) from None


def calls_frame(
    calls: Sequence[CallRecord], run_id: str | None, fetch_ids: Mapping[str, str]
) -> pd.DataFrame:
    """The ``api_calls`` rows of these calls; ``fetch_ids`` maps each KOL to its fetch."""
    import pandas as pd  # here, not at import (see warehouse/writes.py)

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
            "fetch_id": [fetch_ids.get(c.user_id) for c in calls],
            "billed": [is_billed(c.http_status, c.code) for c in calls],
        },
        columns=CALL_COLUMNS,
    )


def field_counts_json(pages: Sequence[Page]) -> str | None:
    """The contract's counts of these pages as ``fetches.field_counts`` keeps them (None: no page)."""
    if not pages:
        return None
    total = FieldCounts()
    for page in pages:
        if page.counts is not None:
            total.merge(page.counts)
    return json.dumps(total.as_json(), sort_keys=True)


def fetch_row(
    query: NotesQuery,
    result: FetchResult | None,
    error: ApiError | None,
    *,
    fetch_id: str,
    run_id: str | None,
    started_at: datetime | None,
    finished_at: datetime,
    failed_pages: Mapping[int, int | str],
    windowed: bool,
) -> FetchRow:
    """The ``fetches`` row of one fetch, finished or failed."""
    r = result
    # An incremental fetch is never 'complete' nor full, even when it happened to read the whole
    # list: only complete full fetches may mark notes gone, and it was not asked to be one.
    complete = r is not None and r.complete and not windowed
    status = "failed" if error is not None else ("complete" if complete else "incomplete")
    totals = [p.total for p in r.pages if p.total is not None] if r else []
    return FetchRow(
        fetch_id=fetch_id,
        user_id=query.user_id,
        run_id=run_id,
        advertise_switch=query.advertise_switch.value,
        order_type=query.order_type.value,
        note_type=query.note_type.value,
        is_third_platform=query.is_third_platform.value,
        is_full=query.is_unfiltered and not windowed,
        status=status,
        started_at=started_at,
        finished_at=finished_at,
        reported_total=r.total if r else None,
        reported_total_min=min(totals, default=None),
        notes_returned=len(r.notes) if r else 0,
        pages=len(r.pages) if r else 0,
        pages_reused=r.pages_reused if r else 0,
        calls=r.calls if r else 0,
        retries=r.retries if r else 0,
        null_metrics=sum(p.null_metrics for p in r.pages) if r else 0,
        duplicates_dropped=r.duplicates_dropped if r else 0,
        stop_reason=r.stop_reason if r and error is None else None,
        error_code=error.code if error else None,
        error_kind=error_kind(error) if error else None,
        failed_pages=failed_pages_text(failed_pages),
        message=str(error) if error else None,
        field_counts=field_counts_json(r.pages) if r else None,
    )
