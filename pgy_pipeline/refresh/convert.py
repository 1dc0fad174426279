"""Conversions between the client's typed pages, the raw layer and the warehouse's rows.

The note rows themselves are produced in SQL (``warehouse/normalise.py``); this module
only moves a page's envelope, a call record or a fetch summary from one form to another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd

from pgy_pipeline.justoneapi import ApiError, CallRecord, NotesQuery, Page, page_from_raw
from pgy_pipeline.warehouse.raw import RawPage
from pgy_pipeline.warehouse.writes import CALL_COLUMNS


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
        },
        columns=CALL_COLUMNS,
    )
