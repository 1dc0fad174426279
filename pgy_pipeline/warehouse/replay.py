"""Rebuilding the warehouse from the raw layer, without buying anything again.

The raw layer keeps every page bought and, beside each fetch, its ``fetches`` row
(``<fetch>.done.json``, or ``<fetch>.failed.json`` for a failed attempt). Writing those
rows and pages with ``write_fetches`` gives back the same ``fetches``, ``notes`` (gone
marks included) and ``note_snapshots`` as the live database, in one batch or in any
order: every rule of the write path is a function of the set of fetches written.

One exception, on purpose: a fetch that failed because the API's answers changed shape (error kind
``schema``) is written with its notes once this code reads every page of it, as an incomplete fetch
(its notes count, it proves nothing about missing ones). That is how a warehouse catches up on a
drift after an upgrade: ``pgy replay``, no API call.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import duckdb

from pgy_pipeline.justoneapi.envelope import classify
from pgy_pipeline.justoneapi.field_counts import FieldCounts
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.writes import FETCH_COLUMNS, FetchRow, WriteStats, fetch_values, write_fetches


def fetch_row_to_json(row: FetchRow) -> dict[str, object]:
    """The fetches row as JSON, kept beside the raw pages for replays."""
    out = dict(zip(FETCH_COLUMNS, fetch_values(row), strict=True))
    for key in ("started_at", "finished_at"):
        value = out[key]
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def fetch_row_from_json(data: Mapping[str, object]) -> FetchRow:
    known = {f.name for f in dataclasses.fields(FetchRow)}
    values = {k: v for k, v in data.items() if k in known}
    for key in ("started_at", "finished_at"):
        if isinstance(values.get(key), str):
            values[key] = datetime.fromisoformat(str(values[key]))
    return FetchRow(**values)  # type: ignore[arg-type]


def read_again(raw: RawStore, row: FetchRow) -> FetchRow | None:
    """A fetch that failed on schema drift, as an incomplete fetch when this code reads all its pages."""
    pages = raw.pages(row.user_id, row.fetch_id)
    counts, seen, listed = FieldCounts(), set(), 0
    for number, page in sorted(pages.items()):
        reading = classify(200, {}, page.body.encode(), user_id=row.user_id, page_number=number)
        if reading.error is not None or reading.drift is not None or reading.counts is None:
            return None
        counts.merge(reading.counts)
        listed += len(reading.notes)
        seen |= {note.note_id for note in reading.notes}
    if not pages:
        return None
    return dataclasses.replace(
        row,
        status="incomplete",
        pages=len(pages),
        notes_returned=len(seen),
        duplicates_dropped=listed - len(seen),
        field_counts=json.dumps(counts.as_json(), sort_keys=True),
    )


def replay_batch(raw: RawStore, fetches: Iterable[tuple[str, str]]) -> tuple[list[FetchRow], list[Path]]:
    """Fetch rows and raw files of stored fetches, ready for ``write_fetches``: no API call.

    A failed fetch contributes its row only: the live run never wrote the notes of its
    partial pages either.
    """
    rows: list[FetchRow] = []
    files: list[Path] = []
    for user_id, fetch_id in fetches:
        row = fetch_row_from_json(raw.summary(user_id, fetch_id))
        if row.status == "failed" and row.error_kind == "schema":
            row = read_again(raw, row) or row
        rows.append(row)
        if row.status != "failed":
            files.append(raw.fetch_file(user_id, fetch_id))
    return rows, files


def replay_all(conn: duckdb.DuckDBPyConnection, raw: RawStore) -> WriteStats:
    """Write every fetch the raw layer recorded into ``conn`` (the caller owns the transaction)."""
    rows, files = replay_batch(raw, raw.iter_recorded_fetches())
    return write_fetches(conn, rows, files)
