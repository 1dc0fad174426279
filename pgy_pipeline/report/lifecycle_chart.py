"""Lifecycle charts: reads on day 1, 3, 7, 14 and 30 after publishing (note_lifecycle, kol_lifecycle)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pgy_pipeline.report.charts import PALETTE, _layout
from pgy_pipeline.report.layout import esc
from pgy_pipeline.report.queries import Row


def lifecycle(
    median: Sequence[Row], notes: Sequence[tuple[str, Sequence[Row]]], title: str
) -> dict[str, Any]:
    """Reads on day 1, 3, 7, 14 and 30 after publishing: the KOL's median note against its newest notes."""
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": [p["day"] for p in points],
            "y": [p["read_num"] for p in points],
            "name": esc(name),
            "line": {"width": 1.5, "dash": "dot"},
            "marker": {"color": color, "size": 6},
        }
        for (name, points), color in zip(notes, PALETTE[1:] * 2, strict=False)
    ]
    data.insert(
        0,
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": [p["day"] for p in median],
            "y": [p["reads_median"] for p in median],
            "name": "median note",
            "line": {"width": 4, "color": PALETTE[0]},
            "marker": {"size": 9, "color": PALETTE[0]},
        },
    )
    layout = _layout(
        title,
        xaxis={
            "title": {"text": "days after publishing"},
            "tickvals": [1, 3, 7, 14, 30],
            "gridcolor": "#eee",
        },
        yaxis={"title": {"text": "reads"}, "gridcolor": "#eee", "rangemode": "tozero"},
    )
    layout["legend"] = {"orientation": "h", "y": -0.3}  # below the axis title
    return {"data": data, "layout": layout}


def lifecycle_medians(series: Sequence[tuple[str, Sequence[Row]]], title: str) -> dict[str, Any]:
    """One median-note lifecycle curve per KOL (the compare page)."""
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": [p["day"] for p in points],
            "y": [p["reads_median"] for p in points],
            "name": esc(name),
            "marker": {"color": color},
        }
        for (name, points), color in zip(series, PALETTE, strict=False)
    ]
    layout = _layout(
        title,
        xaxis={
            "title": {"text": "days after publishing"},
            "tickvals": [1, 3, 7, 14, 30],
            "gridcolor": "#eee",
        },
        yaxis={"title": {"text": "median reads"}, "gridcolor": "#eee", "rangemode": "tozero"},
    )
    return {"data": data, "layout": layout}
