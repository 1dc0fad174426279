"""Rebuild the warehouse from the raw layer, without buying anything again.

After a schema change, a bug fix in normalisation, or the loss of the DuckDB file, every
completed fetch kept under ``raw/`` is normalised again (``pgy replay``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pgy_pipeline.refresh.convert import fetch_row_from_json
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.writes import FetchRow, WriteStats, write_fetches


def replay_batch(raw: RawStore, fetches: Iterable[tuple[str, str]]) -> tuple[list[FetchRow], list[Path]]:
    """Fetch rows and raw files of completed stored fetches, ready for ``write_fetches``: no API call."""
    rows: list[FetchRow] = []
    files: list[Path] = []
    for user_id, fetch_id in fetches:
        rows.append(fetch_row_from_json(raw.done_summary(user_id, fetch_id)))
        files.append(raw.fetch_file(user_id, fetch_id))
    return rows, files


def replay_all(data_dir: Path) -> WriteStats:
    """Normalise every completed stored fetch of ``data_dir`` into its warehouse, then publish."""
    raw = RawStore(data_dir)
    rows, files = replay_batch(raw, raw.iter_done_fetches())
    with Warehouse(data_dir).write(publish=True) as conn:
        return write_fetches(conn, rows, files)
