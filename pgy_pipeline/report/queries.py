"""Every read the report makes, by name: one query per view, for the roster or a group of KOLs.

What the index needs of every KOL (one row each, and the buyer's costs, percentiles and flags) is
read once; what only a KOL's own page shows (its notes, cadence, history, brands, lifecycle...)
is read for a group of KOLs at a time, so the report's memory follows the group, not the roster
(10,000 KOLs of 20 notes held at once: 2.5 GB). loading.py reads them into a ``ReportData``.

The figures come from the warehouse's views (and the ``kol_engagement`` table) as they are, so the
report never disagrees with what an analyst reads in DuckDB. Python only groups rows by KOL; the
one aggregate computed here (notes per month) exists in no view, and the totals per fetch come
from the table the writer keeps (fetch_totals).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

Row = dict[str, Any]


@dataclass(frozen=True)
class PerKol:
    """A read of per-KOL rows: a SELECT with a ``user_id`` column, and the order of its rows (the
    output's column names), so that it can be read for some KOLs only, in the same order."""

    body: str
    order: str

    def query(self, kols: Sequence[str] | None) -> tuple[str, list[Any] | None]:
        """The query of ``kols`` (None: every KOL), in order, and its parameters."""
        sql, params = self.rows_of(kols)
        return f"{sql} ORDER BY {self.order}", params

    def rows_of(self, kols: Sequence[str] | None) -> tuple[str, list[Any] | None]:
        """The rows of ``kols`` (None: every KOL) as a subquery ``q``, in no order, and its parameters:
        their first and last user id in order, and their list. The range is what DuckDB pushes down
        into the scans (``IN (SELECT unnest(?))`` alone read every KOL's rows: 0.3 s against 0.01)."""
        if kols is None:
            return f"SELECT * FROM ({self.body}) AS q", None
        some = sorted(kols)
        where = "WHERE user_id BETWEEN ? AND ? AND list_contains(?::VARCHAR[], user_id)"
        first, last = (some[0], some[-1]) if some else ("", "")
        return f"SELECT * FROM ({self.body}) AS q {where}", [first, last, some]


# Every KOL the warehouse knows: the roster, plus any KOL whose notes outlived its roster row.
ROSTER_SQL = """
SELECT user_id, k.label, k.category, k.removed_at
FROM kols k FULL JOIN (SELECT DISTINCT user_id FROM notes) n USING (user_id)
ORDER BY user_id
"""

LEADERBOARD_SQL = """
SELECT user_id, label, notes, like_collect_rate_pooled, like_collect_rate_median, reads_median, rank
FROM kol_leaderboard ORDER BY rank, user_id
"""

ORGANIC_VS_COOPERATION: Final = PerKol(
    "SELECT user_id, kind, notes, reads_median, like_collect_median, like_collect_rate_pooled "
    "FROM kol_organic_vs_cooperation",
    "user_id, kind DESC",
)

# kol_engagement is a table the engagement asset rebuilds: it lags the views until that runs.
ENGAGEMENT_SQL = """
SELECT user_id, as_of_date, notes, notes_30d, notes_90d, notes_per_week_90d, last_publish_date,
       viral_low_likes, viral_low_rate, viral_high_likes, viral_high_rate,
       viral_low_rate_90d, viral_high_rate_90d, collect_like_ratio_90d, like_collect_rate_pooled_90d,
       video_notes, video_reads_median, video_like_collect_median, video_like_collect_rate_pooled,
       photo_notes, photo_reads_median, photo_like_collect_median, photo_like_collect_rate_pooled
FROM kol_engagement ORDER BY user_id
"""

# Every live note is a point of its KOL's chart of reads by publish date: only what the chart
# shows is read for all of them (~170 a full KOL, a report's most rows). Titles come from notes.
NOTES: Final = PerKol(
    """
SELECT e.user_id, e.note_id, n.title, e.publish_date, e.is_cooperation, e.read_num, e.like_collect
FROM note_engagement e JOIN notes n USING (user_id, note_id)
""",
    "user_id, publish_date NULLS LAST, note_id",
)

# A KOL's "top notes" table: its TOP_NOTES notes with the most reads, with what the table shows
# (brands and images are descriptive columns note_engagement leaves out: joined from notes).
TOP_NOTES = 10
TOP_NOTES_READ: Final = PerKol(
    f"""
SELECT e.user_id, e.note_id, n.title, e.publish_date, e.is_video, e.is_cooperation, n.brand_name,
       n.img_url, e.read_num, e.like_num, e.collect_num, e.like_collect, e.like_collect_rate
FROM note_engagement e JOIN notes n USING (user_id, note_id)
QUALIFY row_number() OVER (PARTITION BY e.user_id ORDER BY e.read_num DESC NULLS LAST, e.note_id)
    <= {TOP_NOTES}
""",
    "user_id, read_num DESC NULLS LAST, note_id",
)

# How many live notes each KOL has (the index's unranked rows, the report's totals).
LIVE_NOTES_SQL = "SELECT user_id, count(*) AS notes FROM note_engagement GROUP BY user_id"

# Months without a note are listed with 0 (between a KOL's first and latest), so gaps show.
CADENCE: Final = PerKol(
    """
WITH m AS (
    SELECT user_id, CAST(date_trunc('month', publish_date) AS DATE) AS month, count(*) AS notes
    FROM note_engagement WHERE publish_date IS NOT NULL GROUP BY ALL
), months AS (
    SELECT user_id, CAST(unnest(generate_series(min(month), max(month), INTERVAL 1 MONTH)) AS DATE) AS month
    FROM m GROUP BY user_id
)
SELECT user_id, month, coalesce(m.notes, 0) AS notes
FROM months LEFT JOIN m USING (user_id, month)
""",
    "user_id, month",
)

# Only complete unfiltered fetches hold every live note, so only their totals are comparable. The
# writer stores each fetch's totals with its snapshots (fetch_totals): summing a year of snapshots
# here took ~1.3 s of every report of 1,000 KOLs (bench/checks_bench.py).
HISTORY: Final = PerKol(
    """
SELECT f.user_id, f.fetch_id, f.finished_at AS fetched_at, t.notes, t.reads, t.like_collect
FROM fetches f JOIN fetch_totals t USING (fetch_id)
WHERE f.is_full AND f.status = 'complete'
""",
    "user_id, fetched_at",
)

LATEST_FETCH_SQL = "SELECT max(finished_at) FROM fetches"

# The buyer's figures (tables of the engagement run, see warehouse/figures.py): read as they are.
# The index shows the first three of every KOL; the others only the KOL's own page.
FIGURES: Final = {
    "costs": PerKol(
        """
        SELECT user_id, price_type, note_kind, price, currency, valid_from, price_age_days, price_stale,
               reads_median_30d, reads_median_90d, cost_per_1k_reads_30d, cost_per_like_collect_30d,
               cost_per_1k_reads_90d, cost_per_like_collect_90d
        FROM kol_costs""",
        "user_id, cost_per_1k_reads_90d NULLS LAST, price_type",
    ),
    "percentiles": PerKol(
        """
        SELECT user_id, figure, price_type, value, roster_kols, roster_percentile, category_kols,
               category_percentile, category_note
        FROM kol_percentiles""",
        "user_id, figure, price_type",
    ),
    "flags": PerKol("SELECT user_id, flag, reason, value, reference FROM kol_flags", "user_id, flag"),
    "lifecycle": PerKol(
        "SELECT user_id, day, notes, reads_median, like_collect_median FROM kol_lifecycle", "user_id, day"
    ),
    # The curves of each KOL's five newest notes with a lifecycle, drawn against its median note.
    "note_curves": PerKol(
        """
        SELECT l.user_id, l.note_id, n.title, l.publish_date, l.day, l.read_num
        FROM note_lifecycle l JOIN notes n USING (user_id, note_id)
        QUALIFY dense_rank() OVER (PARTITION BY l.user_id ORDER BY l.publish_date DESC, l.note_id) <= 5""",
        "user_id, publish_date DESC, note_id, day",
    ),
    "rising": PerKol(
        """
        SELECT user_id, note_id, title, publish_date, day, read_num, like_collect, reads_beats_share,
               kol_reads_median_at_day
        FROM rising_notes""",
        "user_id, reads_beats_share DESC, note_id",
    ),
}
SUMMARY_FIGURES: Final = ("costs", "percentiles", "flags")
# A view of views.sql: always there, current with notes.
BRANDS: Final = PerKol(
    "SELECT user_id, brand, notes, first_date, last_date, reads_median, organic_reads_median, reads_vs_organic "
    "FROM kol_brands",
    "user_id, last_date DESC, brand",
)


@dataclass
class ReportData:
    """The report's rows, grouped by KOL (``user_id``) where they belong to one."""

    roster: dict[str, Row]
    leaderboard: list[Row]
    ranked: dict[str, Row]
    latest_fetch: Any
    engagement: dict[str, Row] = field(default_factory=dict)
    live_notes: dict[str, int] = field(default_factory=dict)  # user_id -> its live notes
    # Read for the KOLs of load_details' last call only:
    organic_vs_cooperation: dict[str, list[Row]] = field(default_factory=dict)
    # A KOL's live notes are its page's most rows (~170 a full KOL): held as tuples of NOTES'
    # columns, which a group reads, slices and sends to a worker for half the CPU of dicts;
    # ``notes_of`` gives them as rows.
    notes: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    note_columns: tuple[str, ...] = ()
    top_notes: dict[str, list[Row]] = field(default_factory=dict)  # TOP_NOTES_READ's, by reads
    cadence: dict[str, list[Row]] = field(default_factory=dict)
    history: dict[str, list[Row]] = field(default_factory=dict)
    # The buyer's figures, by name of FIGURES (empty before the engagement run built them).
    figures: dict[str, dict[str, list[Row]]] = field(default_factory=dict)
    brands: dict[str, list[Row]] = field(default_factory=dict)
    notice: str | None = None  # shown at the top of every page, e.g. "simulated data"

    @property
    def ranked_count(self) -> int:
        """KOLs on the leaderboard (a page shows "rank n of this")."""
        return self._ranked_count if self._ranked_count is not None else len(self.leaderboard)

    _ranked_count: int | None = None  # set in a one-KOL slice, which holds no leaderboard

    def of_one(self, user_id: str) -> ReportData:
        """Only what ``user_id``'s page reads (kol_page.kol_page_inputs): its rows and the
        roster-wide figures a page shows, small enough to send to a worker process. Leaves out
        what changes with other KOLs and no page shows (the latest fetch, live-note counts), so
        the slice, and the page's fingerprint, change only when its page would."""

        def one(rows: dict[str, Any]) -> dict[str, Any]:
            return {user_id: rows[user_id]} if user_id in rows else {}

        return ReportData(
            roster=one(self.roster),
            leaderboard=[],
            ranked=one(self.ranked),
            latest_fetch=None,
            engagement=one(self.engagement),
            organic_vs_cooperation=one(self.organic_vs_cooperation),
            notes=one(self.notes),
            note_columns=self.note_columns,
            top_notes=one(self.top_notes),
            cadence=one(self.cadence),
            history=one(self.history),
            figures={name: one(rows) for name, rows in self.figures.items()},
            brands=one(self.brands),
            notice=self.notice,
            _ranked_count=self.ranked_count,
        )

    def notes_of(self, user_id: str) -> list[Row]:
        """``user_id``'s live notes, as rows (NOTES' columns), in NOTES' order."""
        return as_rows(self.note_columns, self.notes.get(user_id, []))

    def label(self, user_id: str) -> str | None:
        row = self.roster.get(user_id)
        return row["label"] if row else None

    def category(self, user_id: str) -> str | None:
        row = self.roster.get(user_id)
        return row["category"] if row else None

    def figure(self, name: str, user_id: str) -> list[Row]:
        return self.figures.get(name, {}).get(user_id, [])

    def figure_kols(self) -> set[str]:
        """The KOLs whose page-only figures (not the summary's) are held now."""
        return {k for name, rows in self.figures.items() if name not in SUMMARY_FIGURES for k in rows}


def as_rows(names: Sequence[str], tuples: Iterable[tuple[Any, ...]]) -> list[Row]:
    """Tuples of a query's values as rows keyed by its column ``names``."""
    return [dict(zip(names, values, strict=True)) for values in tuples]
