"""A small real warehouse file for the report: the project's migrations, rows inserted by hand.

Four KOLs cover the cases a report must handle: a ranked KOL with two refreshes and hostile
titles, a ranked KOL with markup in its label, an unranked KOL without a label, and a KOL
with no notes at all. Dates are relative to today because the views compute ages from now().
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
from pgy_pipeline.warehouse.migrations import migrate
from pgy_pipeline.warehouse.writes import store_fetch_totals

HOSTILE_TITLE = "<script>alert('x')</script> 好物 & more"
HOSTILE_BRAND = 'Brand "<b>bold</b>"'
KOLS = {
    "kolA000000000000000000001": "厨房小白",
    "kolB000000000000000000002": "穿搭<i>Coco</i>",
    "kolC000000000000000000003": None,
    "kolD000000000000000000004": "空空如也",
}
A, B, C, D = KOLS
CATEGORIES = {A: "美食", B: "穿搭", C: "美食", D: None}
TODAY = datetime.now(UTC).date()
T1 = datetime(2026, 1, 1, 8, tzinfo=UTC)
T2 = T1 + timedelta(days=1)


def _fetch(conn: duckdb.DuckDBPyConnection, fetch_id: str, user_id: str, at: datetime, notes: int) -> None:
    conn.execute(
        "INSERT INTO fetches (fetch_id, user_id, advertise_switch, order_type, note_type, is_third_platform, "
        "is_full, status, finished_at, notes_returned, pages, pages_reused, calls, retries, null_metrics, "
        "duplicates_dropped) VALUES (?, ?, 'ALL', 'LATEST', 'ALL', 'NO', TRUE, 'complete', ?, ?, 1, 0, 1, 0, 0, 0)",
        [fetch_id, user_id, at, notes],
    )


def _note(conn: duckdb.DuckDBPyConnection, user_id: str, i: int, **over: object) -> tuple[Any, ...]:
    note_id = f"{user_id[:4]}{i:020x}"
    row: dict[str, object] = {
        "title": f"{user_id[:4]} 笔记 {i}",
        "publish_date": TODAY - timedelta(days=9 * i + 1),
        "is_video": i % 3 == 0,
        "is_advertise": i % 4 == 0,
        "brand_name": "小米" if i % 4 == 0 else None,
        "img_url": f"https://example.invalid/{note_id}.jpg" if i % 2 == 0 else None,
        "read_num": 1000 * (i + 1),
        "like_num": 40 * (i + 1) + i,
        "collect_num": 10 * (i + 1),
    } | over
    conn.execute(
        "INSERT INTO notes (user_id, note_id, title, publish_date, is_video, is_advertise, brand_name, img_url, "
        "read_num, like_num, collect_num, third_read_user_num, first_seen_at, last_seen_at, last_fetch_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
        [user_id, note_id, *row.values(), T1, T2, f"{user_id}-f2"],
    )
    return note_id, row["read_num"], row["like_num"], row["collect_num"]


def build_warehouse(path: Path, empty: bool = False, engagement: bool = True) -> Path:
    """``engagement=False``: as before the engagement asset first ran (no kol_engagement table)."""
    conn = duckdb.connect(str(path))
    try:
        migrate(conn)
        if not empty:
            _fill(conn)
        if engagement:
            refresh_kol_engagement(conn, TODAY)
    finally:
        conn.close()
    return path


def _lifecycle_snapshots(conn: duckdb.DuckDBPyConnection, user_id: str, notes: list[tuple[Any, ...]]) -> None:
    """Snapshots 1, 3 and 7 days after each note was published (noon in Asia/Shanghai), growing to
    the note's final reads: the lifecycle curves. They belong to no recorded fetch (no history)."""
    rows = []
    for i, (note_id, reads, *_rest) in enumerate(notes):
        published = TODAY - timedelta(days=9 * i + 1)
        for day, share in ((1, 0.3), (3, 0.7), (7, 1.0)):
            at = datetime(published.year, published.month, published.day, 4, tzinfo=UTC) + timedelta(days=day)
            rows.append(["lc", user_id, note_id, at, None if reads is None else int(reads * share)])
    conn.executemany("INSERT INTO note_snapshots VALUES (?, ?, ?, ?, 1, ?, 10, 5, 0, 'default')", rows)


def _fill(conn: duckdb.DuckDBPyConnection) -> None:
    for user_id, label in KOLS.items():
        conn.execute(
            "INSERT INTO kols (user_id, label, category, added_at) VALUES (?, ?, ?, ?)",
            [user_id, label, CATEGORIES[user_id], T1],
        )
    # Analysts' prices: A has a current photo price; B, C and D have none.
    conn.execute(
        "INSERT INTO kol_prices (user_id, price_type, price, valid_from) VALUES (?, 'photo_note', 2000, ?)",
        [A, TODAY - timedelta(days=10)],
    )
    counts = {A: 12, B: 11, C: 3, D: 0}
    for user_id, n in counts.items():
        notes = []
        for i in range(n):
            over: dict[str, object] = {}
            if user_id == A and i == 5:
                over = {"title": HOSTILE_TITLE, "brand_name": HOSTILE_BRAND, "read_num": 99_999}
            if user_id == A and i == 7:
                over = {"read_num": None}  # unknown reads: the views keep it out of every rate
            notes.append(_note(conn, user_id, i, **over))
        if not n:
            continue
        if user_id == A:
            _lifecycle_snapshots(conn, user_id, notes)
        fetches = [(f"{user_id}-f1", T1, 0.5), (f"{user_id}-f2", T2, 1.0)] if user_id == A else []
        fetches = fetches or [(f"{user_id}-f2", T2, 1.0)]
        for fetch_id, at, share in fetches:
            _fetch(conn, fetch_id, user_id, at, len(notes))
            conn.executemany(
                "INSERT INTO note_snapshots VALUES (?, ?, ?, ?, 1, ?, ?, ?, 0, 'default')",
                [
                    [fetch_id, user_id, nid, at, *(None if v is None else int(v * share) for v in metrics)]
                    for nid, *metrics in notes
                ],
            )
    store_fetch_totals(conn, "SELECT fetch_id FROM fetches")  # as the writer does with its snapshots


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("report-wh") / "pgy.duckdb")


@pytest.fixture
def ro(warehouse: Path):
    conn = duckdb.connect(str(warehouse), read_only=True)
    yield conn
    conn.close()
