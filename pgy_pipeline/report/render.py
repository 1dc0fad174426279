"""The report's one HTML builder: Jinja2 templates with autoescaping on for every value.

Titles, brand names, labels and image URLs are free text from the API or the roster. A
template cannot forget to escape them: ``{{ value }}`` is always escaped, and only values
this package builds itself (the CSS, the sort script, chart fragments) are marked safe,
in Python, here. URLs reach an attribute only through the ``url`` filter, which lets
through http and https URLs alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def _note_rows(notes: Sequence[Mapping[str, Any]], eng: Mapping[str, Any] | None) -> Markup:
    """The rows of a KOL page's top notes, one line each, every value escaped as ``{{ }}`` would.

    Python, not a template loop: at ~40 µs a row in Jinja they were 40% of a page's rendering.
    """
    return Markup("\n".join(_note_row(n, eng) for n in notes))


def _note_row(n: Mapping[str, Any], eng: Mapping[str, Any] | None) -> str:
    src = safe_url(n["img_url"])
    if src:
        alt = escape(n["title"] or n["note_id"])
        cover = f'<img class="cover" src="{escape(src)}" alt="cover of {alt}" loading="lazy" referrerpolicy="no-referrer">'
    elif n["img_url"]:
        cover = '<span class="muted">(cover not shown: not an http(s) URL)</span>'
    else:
        cover = ""
    tags = '<span class="tag">video</span>' if n["is_video"] else '<span class="tag">photo</span>'
    if n["is_cooperation"]:
        brand = f": {escape(n['brand_name'])}" if n["brand_name"] else ""
        tags += f' <span class="tag coop">cooperation{brand}</span>'
    if eng and not missing(n["like_num"]) and n["like_num"] >= eng["viral_high_likes"]:
        tags += f' <span class="tag viral">≥ {escape(fmt_num(eng["viral_high_likes"]))} likes</span>'
    published = n["publish_date"]
    return (
        f"<tr><td>{cover}</td><td>{escape(n['title'] or '(untitled)')}<br>{tags}<br>"
        f'<span class="muted">{escape(n["note_id"])}</span></td>'
        f'<td data-v="{escape(published or "")}">{escape(fmt_date(published))}</td>'
        f"{_num_cell(n['read_num'])}{_num_cell(n['like_collect'])}{_pct_cell(n['like_collect_rate'])}"
        f"{_num_cell(n['like_num'])}{_num_cell(n['collect_num'])}</tr>"
    )


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
        note_rows=_note_rows,
        css=Markup(CSS),  # a constant of layout.py
        sort_js=Markup(SORT_JS),  # a constant of layout.py
        plotly_js=PLOTLY_JS,
        missing=missing,
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
