"""Plotly charts of the report, built as plain figure dicts and handed to plotly.js as JSON.

The figures are plotly.js's own schema, written here as dicts and serialised with ``json``:
plotly's Python layer (object validation, its JSON encoder) adds nothing plotly.js needs and
took half of the report's time. Text from the data is HTML-escaped before it reaches a
figure: plotly.js renders hover text as HTML-like markup, and decodes the entities back to
the characters for display.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pgy_pipeline.report.layout import FONT_STACK, esc, esc_all
from pgy_pipeline.report.queries import Row

ORGANIC, COOPERATION = "#2f9e44", "#e8590c"
SEGMENT_COLORS = {"organic": ORGANIC, "cooperation": COOPERATION, "video": "#ae3ec9", "photo": "#4263eb"}
PALETTE = ("#4263eb", "#e8590c", "#2f9e44", "#ae3ec9", "#f59f00")
_CONFIG = {"displaylogo": False, "responsive": True}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": esc(title), "x": 0, "font": {"size": 14}},
        "font": {"family": FONT_STACK, "size": 12},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.15},
        "plot_bgcolor": "#fff",
        **extra,
    }


def _json_value(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"a chart cannot hold {type(value).__name__}: {value!r}")


# Inside <script>, "</script>" or "<!--" in a string would end or break the element, and
# U+2028/U+2029 end a line in older JavaScript: every one of them is written as an escape.
# (A NaN is written as JavaScript's NaN, which plotly.js draws as a gap, like null.)
_SCRIPT_SAFE = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("/", "\\u002f"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def to_json(value: object) -> str:
    """``value`` as a JavaScript literal that is safe to place inside a <script> element."""
    text = json.dumps(value, default=_json_value, ensure_ascii=False, separators=(",", ":"))
    for unsafe, escaped in _SCRIPT_SAFE:
        if unsafe in text:
            text = text.replace(unsafe, escaped)
    return text


_CONFIG_JSON = to_json(_CONFIG)


def render(fig: Mapping[str, Any], div_id: str, height: int = 340) -> str:
    """An HTML fragment drawing ``fig``; plotly.js must already be loaded by the page."""
    args = ",".join(
        (to_json(div_id), to_json(fig.get("data", [])), to_json(fig.get("layout", {})), _CONFIG_JSON)
    )
    return (
        f'<div class="chart"><div style="height:{height}px; width:100%;">'
        f'<div id="{div_id}" class="plotly-graph-div" style="height:100%; width:100%;"></div>'
        f"<script>Plotly.newPlot({args});</script></div></div>"
    )


def _hover(notes: Sequence[Row], dates: Sequence[str]) -> list[str]:
    """Each note's title and publish date (``dates``, as text) for its point's hover box."""
    titles = esc_all([n["title"] or "(untitled)" for n in notes])
    return [f"{title}<br>{date}" for title, date in zip(titles, dates, strict=True)]


def notes_by_date(notes: Sequence[Row], title: str) -> dict[str, Any]:
    """Reads (top) and like_collect (bottom) of each note against its publish date."""
    data: list[dict[str, Any]] = []
    for kind, color, is_coop in (("organic", ORGANIC, False), ("cooperation", COOPERATION, True)):
        rows = [n for n in notes if n["is_cooperation"] is is_coop and n["publish_date"] is not None]
        # As text once: each date is written twice (both traces), and json's C encoder writes text
        # without calling back into Python for every value (a third of the page's chart time).
        x = [n["publish_date"].isoformat() for n in rows]
        marker = {"color": color, "size": 7, "opacity": 0.8}
        common: dict[str, Any] = {
            "type": "scatter",
            "mode": "markers",
            "x": x,
            "text": _hover(rows, x),
            "marker": marker,
            "name": kind,
            "legendgroup": kind,
        }
        data.append({**common, "y": [n["read_num"] for n in rows], "yaxis": "y"})
        data.append({**common, "y": [n["like_collect"] for n in rows], "yaxis": "y2", "showlegend": False})
    for trace in data:
        trace["hovertemplate"] = "%{text}<br>%{y:,}<extra>%{fullData.name}</extra>"
    layout = _layout(
        title,
        yaxis={"title": {"text": "reads"}, "domain": [0.55, 1], "type": "log", "gridcolor": "#eee"},
        yaxis2={"title": {"text": "like_collect"}, "domain": [0, 0.45], "type": "log", "gridcolor": "#eee"},
        xaxis={"type": "date", "anchor": "y2", "gridcolor": "#eee"},
    )
    return {"data": data, "layout": layout}


def segment_bars(segments: Sequence[tuple[str, Row | None]], title: str) -> dict[str, Any]:
    """Median reads and pooled like_collect rate for each segment (organic, cooperation, ...)."""
    names = [name for name, _ in segments]
    reads = [row["reads_median"] if row else None for _, row in segments]
    rates = [row["like_collect_rate_pooled"] if row else None for _, row in segments]
    colors = [SEGMENT_COLORS.get(name, PALETTE[0]) for name in names]
    data = [
        {"type": "bar", "x": names, "y": reads, "name": "median reads", "marker": {"color": colors}},
        {
            "type": "bar",
            "x": names,
            "y": rates,
            "name": "like_collect rate (pooled)",
            "xaxis": "x2",
            "yaxis": "y2",
            "marker": {"color": colors},
            "hovertemplate": "%{x}: %{y:.2%}<extra></extra>",
        },
    ]
    layout = _layout(
        title,
        showlegend=False,
        xaxis={"domain": [0, 0.46]},
        xaxis2={"domain": [0.54, 1], "anchor": "y2"},
        yaxis={"title": {"text": "median reads"}, "gridcolor": "#eee"},
        yaxis2={
            "title": {"text": "like_collect rate"},
            "tickformat": ".1%",
            "anchor": "x2",
            "gridcolor": "#eee",
        },
    )
    return {"data": data, "layout": layout}


def grouped_bars(
    categories: Sequence[str], series: Sequence[tuple[str, Sequence[Any]]], title: str, percent: bool = False
) -> dict[str, Any]:
    """One bar group per category, one bar per series (a KOL on the compare page)."""
    data = [
        {
            "type": "bar",
            "x": list(categories),
            "y": list(values),
            "name": esc(name),
            "marker": {"color": color},
        }
        for (name, values), color in zip(series, PALETTE, strict=False)
    ]
    yaxis: dict[str, Any] = {"gridcolor": "#eee"}
    if percent:
        yaxis["tickformat"] = ".1%"
    return {"data": data, "layout": _layout(title, barmode="group", yaxis=yaxis)}


def lines(
    series: Sequence[tuple[str, Sequence[Any], Sequence[Any]]],
    title: str,
    y_title: str,
    monthly: bool = False,
) -> dict[str, Any]:
    """Time series, one trace per (name, x, y); ``monthly`` x values are months, drawn as bars
    when there is one series."""
    bars = monthly and len(series) == 1
    kind = {"type": "bar"} if bars else {"type": "scatter", "mode": "lines+markers"}
    data = [
        {**kind, "x": list(x), "y": list(y), "name": esc(name), "marker": {"color": color}}
        for (name, x, y), color in zip(series, PALETTE, strict=False)
    ]
    xaxis: dict[str, Any] = {"type": "date", "gridcolor": "#eee"}
    if monthly:
        months = max((len(x) for _, x, _ in series), default=0)
        xaxis |= {"tickformat": "%b %Y", "dtick": "M1" if months <= 12 else "M3"}
    layout = _layout(
        title,
        showlegend=len(series) > 1,
        xaxis=xaxis,
        yaxis={"title": {"text": y_title}, "gridcolor": "#eee", "rangemode": "tozero"},
    )
    return {"data": data, "layout": layout}


def history(history: Sequence[Row], title: str) -> dict[str, Any]:
    """Total reads (left axis) and like_collect (right axis) of a KOL's notes per refresh."""
    x = [h["fetched_at"] for h in history]
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": [h["reads"] for h in history],
            "name": "reads",
            "marker": {"color": PALETTE[0]},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": [h["like_collect"] for h in history],
            "name": "like_collect",
            "yaxis": "y2",
            "marker": {"color": PALETTE[1]},
        },
    ]
    layout = _layout(
        title,
        xaxis={"type": "date", "gridcolor": "#eee"},
        yaxis={"title": {"text": "total reads"}, "gridcolor": "#eee", "rangemode": "tozero"},
        yaxis2={
            "title": {"text": "total like_collect"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
        },
    )
    layout["margin"] = {**layout["margin"], "r": 70}  # room for the right axis' title
    return {"data": data, "layout": layout}


def reach_vs_rate(leaderboard: Sequence[Row], pages: Mapping[str, str]) -> dict[str, Any]:
    """The shortlist picture: median reads against pooled like_collect rate, one dot per KOL."""
    names = [esc(r["label"] or r["user_id"]) for r in leaderboard]
    data = [
        {
            "type": "scatter",
            # Names beside the dots while they stay legible; a big roster relies on hover.
            "mode": "markers+text" if len(leaderboard) <= 40 else "markers",
            "text": names,
            "textposition": "top center",
            "hovertext": [f"{n}<br>rank {r['rank']}" for n, r in zip(names, leaderboard, strict=True)],
            "x": [r["reads_median"] for r in leaderboard],
            "y": [r["like_collect_rate_pooled"] for r in leaderboard],
            "customdata": [pages[r["user_id"]] for r in leaderboard],
            "marker": {"size": 10, "color": PALETTE[0], "opacity": 0.75},
            "hovertemplate": "%{hovertext}<br>median reads %{x:,}<br>like_collect %{y:.2%}<extra></extra>",
        }
    ]
    layout = _layout(
        "Reach against engagement (KOLs on the leaderboard)",
        showlegend=False,
        xaxis={"title": {"text": "median reads per note"}, "type": "log", "gridcolor": "#eee"},
        yaxis={"title": {"text": "like_collect rate (pooled)"}, "tickformat": ".1%", "gridcolor": "#eee"},
    )
    return {"data": data, "layout": layout}
