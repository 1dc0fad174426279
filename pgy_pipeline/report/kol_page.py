"""One KOL's scorecard page: reads over time, sponsored against organic, cadence, top notes, history."""

from __future__ import annotations

from typing import Any, NamedTuple

from pgy_pipeline.report import charts, lifecycle_chart
from pgy_pipeline.report.queries import TOP_NOTES, ReportData
from pgy_pipeline.report.segments import kol_segments
from pgy_pipeline.report.shortlist import lifecycle_chart_data, percentile_rows

DEFINITIONS = (
    "like_collect = likes + collects (赞藏); like_collect rate = like_collect / reads. The Notes Details "
    "endpoint has no comments or shares, so this is not the platform's full engagement rate (互动率). "
    "Only live notes count (deleted or hidden notes are left out)."
)


class PageSource(NamedTuple):
    """What a KOL page is built from: its KOL's slice of the report's rows (ReportData.of_one) and
    its links. Pickled, it is a worker's task; cut before any of its page-only rows are read, it is
    the page's fingerprint with their digest (unchanged.py)."""

    data: ReportData
    user_id: str
    index_href: str
    compare_href: str | None

    def inputs(self) -> dict[str, Any]:
        return kol_page_inputs(self.data, self.user_id, self.index_href, self.compare_href)


def kol_page_inputs(
    data: ReportData, user_id: str, index_href: str, compare_href: str | None
) -> dict[str, Any]:
    """Everything ``kol.html`` shows of ``user_id``: the page is a pure function of this."""
    label = data.label(user_id)
    name = label or user_id
    notes = data.notes_of(user_id)
    cadence = data.cadence.get(user_id, [])
    history = data.history.get(user_id, [])
    segments = kol_segments(data, user_id)
    median, curves = lifecycle_chart_data(data, user_id)
    return dict(
        title=f"{name} · KOL scorecard",
        up="../",
        charts=True,
        notice=data.notice,
        definitions=DEFINITIONS,
        index_href=index_href,
        compare_href=compare_href,
        user_id=user_id,
        label=label,
        lb=data.ranked.get(user_id),
        ranked_count=data.ranked_count,
        eng=data.engagement.get(user_id),
        removed=(data.roster.get(user_id) or {}).get("removed_at"),
        notes=notes,
        segments=segments,
        by_date=charts.notes_by_date(notes, name) if notes else None,
        segment_bars=charts.segment_bars(segments, name),
        cadence=charts.lines(
            [(name, [c["month"] for c in cadence], [c["notes"] for c in cadence])],
            f"{name}: live notes per publish month",
            "notes",
            monthly=True,
        ),
        top_count=TOP_NOTES,
        top_notes=data.top_notes.get(user_id, []),
        figures_built=bool(data.figures),
        category=data.category(user_id),
        costs=data.figure("costs", user_id),
        percentiles=percentile_rows(data, user_id),
        flags=data.figure("flags", user_id),
        lifecycle_median=median,
        lifecycle=lifecycle_chart.lifecycle(
            median, curves, f"{name}: reads after publishing, median note against the newest"
        ),
        rising=data.figure("rising", user_id),
        brands=data.brands.get(user_id, []),
        history=history,
        history_chart=(
            charts.history(
                history, f"{name}: total reads and like_collect of its notes, per complete refresh"
            )
            if len(history) > 1
            else None
        ),
    )
