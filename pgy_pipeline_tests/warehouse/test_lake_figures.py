"""The buyer's figures on DuckLake: the engagement run's SQL (figures.py, lifecycle.py, flags.py)
gives on a lake exactly what it gives in the DuckDB file."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline.warehouse.lake import LakeConfig, connect_lake
from pgy_pipeline.warehouse.migrations import migrate
from pgy_pipeline.warehouse.writes import sync_kols
from pgy_pipeline_tests.warehouse.lab import Lab, note, pages_of

# The tables and view the engagement run builds, and a day of the KOLs built to fill each one.
DERIVED = ("kol_engagement", "kol_costs", "kol_percentiles", "note_lifecycle", "kol_lifecycle", "kol_flags")
AS_OF = date(2026, 3, 10)
SETTINGS = EngagementSettings(peer_min_kols=3, rising_min_notes=2, flag_min_notes=2)


def _feed(lab: Lab) -> None:
    """KOL r: a note a week seen every other day for 60 days, and a new strong one (lifecycle,
    rising); p0-p3: peers in one category, two priced (costs, percentiles); j: reads jumping (a flag)."""
    published = {i: AS_OF - timedelta(days=60 - 7 * i) for i in range(9)}
    for d in range(0, 61, 2):
        day = AS_OF - timedelta(days=60 - d)
        lab.now = datetime(day.year, day.month, day.day, 4, tzinfo=UTC)
        seen = {i: p for i, p in published.items() if p <= day}
        reads = {i: 100 * ((day - p).days + 1) * (3 if i == 8 else 1) for i, p in seen.items()}
        lab.fetch(
            "r",
            pages_of(
                [
                    note(i, reads=r, likes=r // 10, collects=r // 20, date=seen[i].isoformat())
                    for i, r in reads.items()
                ]
            ),
        )
    for k in range(4):
        lab.fetch(
            f"p{k}",
            pages_of(
                [
                    note(
                        100 * (k + 1) + i,
                        reads=1000 * (k + 1),
                        likes=50 * (i + 1),
                        date=(AS_OF - timedelta(days=5 * i)).isoformat(),
                    )
                    for i in range(4)
                ]
            ),
        )
    before = [
        note(900 + i, reads=1000, likes=10, collects=5, date=(AS_OF - timedelta(days=100)).isoformat())
        for i in range(2)
    ]
    lab.fetch("j", pages_of(before))
    lab.fetch("j", pages_of([dict(n, readNum=9000) for n in before]))
    sync_kols(lab.conn, [("r", "R", None), ("j", "J", None)] + [(f"p{k}", None, "food") for k in range(4)])
    lab.conn.execute(
        "INSERT INTO kol_prices (user_id, price_type, price, valid_from) VALUES "
        "('p0', 'photo_note', 3000, DATE '2026-01-01'), ('p1', 'photo_note', 1000, DATE '2026-01-01')"
    )  # fmt: skip


def _engagement_run(lab: Lab, day: date) -> dict[str, list[tuple[object, ...]]]:
    lab.conn.execute("BEGIN TRANSACTION")  # one transaction, as the kol_engagement asset writes
    rows = refresh_kol_engagement(lab.conn, day, SETTINGS)
    lab.conn.execute("COMMIT")
    return {t: lab.query(f"SELECT * FROM {t} ORDER BY ALL") for t in (*DERIVED, "rising_notes")} | {
        "rebuilt": [(rows.rebuilt,)]
    }


def test_the_engagement_run_builds_the_same_figures_on_the_lake_as_in_the_file(tmp_path):
    """Every figure table (and rising_notes) equal on both backends, for a first run and for the
    next one, which keeps the settled lifecycle points of the previous one, and for a run the same
    day after one KOL's fetch, which rebuilds that KOL's row of kol_engagement only."""
    cfg = LakeConfig(f"sqlite:{tmp_path / 'catalog.sqlite'}", f"{tmp_path / 'files'}/")
    lake = connect_lake(cfg, read_only=False, config={"threads": 1})
    try:
        migrate(lake, lake=True)
        labs = Lab(tmp_path / "file"), Lab(tmp_path / "lake", conn=lake)
        for lab in labs:
            _feed(lab)
        for day, rebuilt in ((AS_OF, 6), (AS_OF + timedelta(days=1), 6), (AS_OF + timedelta(days=1), 1)):
            if rebuilt == 1:
                for lab in labs:
                    lab.fetch("p0", pages_of([note(100 + i, reads=5000, likes=60) for i in range(4)]))
            on_file, on_lake = (_engagement_run(lab, day) for lab in labs)
            assert on_lake == on_file
            assert on_file["rebuilt"] == [(rebuilt,)]
            assert all(on_file[t] for t in (*DERIVED, "rising_notes")), [t for t in on_file if not on_file[t]]
    finally:
        lake.close()
