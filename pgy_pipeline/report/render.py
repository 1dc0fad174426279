"""The report's one HTML builder: Jinja2 templates with autoescaping on for every value.

Titles, brand names, labels and image URLs are free text from the API or the roster. A
template cannot forget to escape them: ``{{ value }}`` is always escaped, and only values
this package builds itself (the CSS, the sort script, chart fragments) are marked safe,
in Python, here. URLs reach an attribute only through the ``url`` filter, which lets
through http and https URLs alone.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup, escape

from pgy_pipeline.report import charts
from pgy_pipeline.report.layout import CSS, PLOTLY_JS, SORT_JS, fmt_date, fmt_num, fmt_pct, missing, safe_url


def _chart(fig: dict[str, Any], div_id: str, height: int = 340) -> Markup:
    # charts.render escapes its JSON for a <script> element (charts.to_json); ids are ours.
    return Markup(charts.render(fig, div_id, height))


def _sort_value(value: Any) -> str:
    return "" if missing(value) else str(value)


def _num_cell(value: Any, shown: str | None = None) -> Markup:
    """A numeric table cell: sorts by the raw value, shows ``shown`` (default: the number formatted).

    Python, not a template macro: a 10,000-KOL report calls it millions of times, and a Jinja macro
    call costs ~10x a function's. Both values are escaped as ``{{ }}`` would (markupsafe's C escape;
    Markup.format, in pure Python, took 40% of a page's rendering).
    """
    text = fmt_num(value) if shown is None else shown
    return Markup(f'<td class="num" data-v="{escape(_sort_value(value))}">{escape(text)}</td>')


def _pct_cell(value: Any) -> Markup:
    return _num_cell(value, fmt_pct(value))


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
    env.filters.update(num=fmt_num, pct=fmt_pct, date=fmt_date, url=safe_url, sort_value=_sort_value)
    env.globals.update(
        chart=_chart,
        num_cell=_num_cell,
        pct_cell=_pct_cell,
        css=Markup(CSS),  # a constant of layout.py
        sort_js=Markup(SORT_JS),  # a constant of layout.py
        plotly_js=PLOTLY_JS,
        missing=missing,
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
