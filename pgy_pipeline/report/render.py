"""The report's one HTML builder: Jinja2 templates with autoescaping on for every value.

Titles, brand names, labels and image URLs are free text from the API or the roster. A
template cannot forget to escape them: ``{{ value }}`` is always escaped, and only values
this package builds itself (the CSS, the sort script, chart fragments, and the page's hot
pieces in cells.py, which escape every value they hold) are marked safe, in Python. URLs reach an attribute only through the ``url`` filter, which lets
through http and https URLs alone.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from pgy_pipeline.report import cells, charts
from pgy_pipeline.report.layout import CSS, PLOTLY_JS, SORT_JS, fmt_date, fmt_num, fmt_pct, missing, safe_url


def _chart(fig: dict[str, Any], div_id: str, height: int = 340) -> Markup:
    # charts.render escapes its JSON for a <script> element (charts.to_json); ids are ours.
    return Markup(charts.render(fig, div_id, height))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pgy_pipeline.report", "templates"),
        autoescape=True,
        auto_reload=False,  # the templates are package data: no stat() of each one per page
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt_num, pct=fmt_pct, date=fmt_date, url=safe_url, sort_value=cells.sort_value)
    env.globals.update(
        chart=_chart,
        # The page's hot pieces, built in Python (cells.py); each escapes every value.
        num_cell=cells.num_cell,
        pct_cell=cells.pct_cell,
        kpi=cells.kpi,
        percentile_rows=cells.percentile_rows,
        segment_rows=cells.segment_rows,
        note_rows=cells.note_rows,
        leaderboard_rows=cells.leaderboard_rows,
        unranked_rows=cells.unranked_rows,
        css=Markup(CSS),  # a constant of layout.py
        sort_js=Markup(SORT_JS),  # a constant of layout.py
        plotly_js=PLOTLY_JS,
        missing=missing,
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
