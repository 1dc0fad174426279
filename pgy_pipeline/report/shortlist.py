"""The buyer's figures of one KOL, shaped for the pages: cost, percentiles, flags, lifecycle.

The numbers come from the engagement run's tables as they are (warehouse/figures.py); here
they are only picked (the KOL's cheapest price, the figure the leaderboard filters on) and
named for a person.
"""

from __future__ import annotations

from typing import Any

from pgy_pipeline.report.layout import fmt_num, fmt_pct, missing
from pgy_pipeline.report.queries import ReportData, Row

# The percentile the leaderboard shows and filters on: like_collect rate over 90 days.
RATE_FIGURE = "like_collect_rate_pooled_90d"
FIGURE_TITLES = {
    "reads_median_90d": "median reads (90 days)",
    "like_collect_median_90d": "median like_collect (90 days)",
    "like_collect_rate_pooled_90d": "like_collect rate, pooled (90 days)",
    "viral_low_rate_90d": "share of 百赞 notes (90 days)",
    "viral_high_rate_90d": "share of 千赞 notes (90 days)",
    "collect_like_ratio_90d": "collects per like, 赞藏比 (90 days)",
    "notes_per_week_90d": "notes per week (90 days)",
    "cost_per_1k_reads_90d": "cost per 1,000 reads (90 days)",
    "cost_per_like_collect_90d": "cost per like_collect (90 days)",
}
_PERCENT = ("like_collect_rate_pooled_90d", "viral_low_rate_90d", "viral_high_rate_90d")


def shown(figure: str, value: Any) -> str:
    if figure in _PERCENT:
        return fmt_pct(value)
    if figure == "collect_like_ratio_90d" or figure.startswith("cost_") or figure == "notes_per_week_90d":
        return "–" if missing(value) else f"{float(value):,.2f}"
    return fmt_num(value)


def cheapest(data: ReportData, user_id: str) -> Row | None:
    """The KOL's price with the lowest cost per 1,000 reads over 90 days (rows come sorted so)."""
    rows = data.figure("costs", user_id)
    return rows[0] if rows else None


def percentile(data: ReportData, user_id: str, figure: str = RATE_FIGURE) -> Row | None:
    return next((p for p in data.figure("percentiles", user_id) if p["figure"] == figure), None)


def percentile_rows(data: ReportData, user_id: str) -> list[Row]:
    """One row per headline figure, in the order of FIGURE_TITLES, with its value as shown."""
    order = list(FIGURE_TITLES)
    rows = sorted(
        data.figure("percentiles", user_id), key=lambda p: (order.index(p["figure"]), p["price_type"] or "")
    )
    return [
        p
        | {
            "title": FIGURE_TITLES[p["figure"]] + (f" · {p['price_type']}" if p["price_type"] else ""),
            "shown": shown(p["figure"], p["value"]),
        }
        for p in rows
    ]


def leaderboard_extras(data: ReportData, user_id: str) -> Row:
    """What the leaderboard adds to a ranked KOL's row (and filters on)."""
    cost, pct = cheapest(data, user_id), percentile(data, user_id)
    flags = data.figure("flags", user_id)
    return {
        "category": data.category(user_id),
        "cost": cost["cost_per_1k_reads_90d"] if cost else None,
        "cost_type": cost["price_type"] if cost else None,
        "roster_pct": pct["roster_percentile"] if pct else None,
        "category_pct": pct["category_percentile"] if pct else None,
        "flags": flags,
    }


def lifecycle_chart_data(data: ReportData, user_id: str) -> tuple[list[Row], list[tuple[str, list[Row]]]]:
    """(the KOL's median curve, [(note title, its points)] of its newest notes)."""
    curves: dict[str, tuple[str, list[Row]]] = {}
    for point in data.figure("note_curves", user_id):
        title = point["title"] or point["note_id"]
        curves.setdefault(point["note_id"], (f"{title} ({point['publish_date']})", []))[1].append(point)
    return data.figure("lifecycle", user_id), list(curves.values())
