"""The pages' hot pieces, built in Python: numeric cells, KPI tiles and the rows of their tables.

A 10,000-KOL report renders each of them tens of times a KOL page, and the index a row a KOL; a
Jinja macro call costs ~10x a function's, and a template loop ~40 µs a row. Each piece escapes every value exactly as ``{{ }}``
would (markupsafe's ``escape``) and returns ``Markup``, so a template places it as it is. Each is
tested byte for byte against the template it replaced (tests: report/test_cells.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from pgy_pipeline.report.layout import fmt_date, fmt_num, fmt_pct, missing, safe_url
from pgy_pipeline.report.queries import Row

# An int's or a float's text, and fmt_num's and fmt_pct's of it, hold nothing to escape (digits,
# separators, "nan", "inf", "e+", "%", "–"): half of a page's escaping, skipped.
_PLAIN = (int, float)


def sort_value(value: Any) -> str:
    return "" if missing(value) else str(value)


def num_cell(value: Any, shown: str | None = None) -> Markup:
    """A numeric table cell: sorts by the raw value, shows ``shown`` (default: the number formatted).

    Markup.format, in pure Python, took 40% of a page's rendering: an f-string of escaped values.
    """
    if shown is None and (value is None or type(value) in _PLAIN):
        return Markup(f'<td class="num" data-v="{sort_value(value)}">{fmt_num(value)}</td>')
    text = fmt_num(value) if shown is None else shown
    return Markup(f'<td class="num" data-v="{escape(sort_value(value))}">{escape(text)}</td>')


def pct_cell(value: Any) -> Markup:
    if value is None or type(value) in _PLAIN:
        return Markup(f'<td class="num" data-v="{sort_value(value)}">{fmt_pct(value)}</td>')
    return num_cell(value, fmt_pct(value))


def kpi(name: str, value: Any, small: str | None = None) -> Markup:
    """A KPI tile: its name, its value and, when given, a muted note after the value."""
    note = f" <small class=muted>{escape(small)}</small>" if small is not None else ""
    return Markup(
        f'<div class="kpi"><span class="muted">{escape(name)}</span><b>{escape(value)}{note}</b></div>'
    )


def percentile_rows(rows: Sequence[Row]) -> Markup:
    """The rows of the peers table: the figure, its value, the share of the roster and of the
    category it beats (or why there is none), one line each."""
    return Markup("".join(_percentile_row(p) + "\n" for p in rows))


def _percentile_row(p: Row) -> str:
    if p["roster_kols"] < 2:
        roster = '<span class="muted">no other KOL has it</span>'
    else:
        roster = f'{escape(fmt_pct(p["roster_percentile"]))} <span class="muted">of {escape(fmt_num(p["roster_kols"] - 1))}</span>'
    if p["category_note"]:
        category = f'<span class="muted">{escape(p["category_note"])}</span>'
    else:
        category = f'{escape(fmt_pct(p["category_percentile"]))} <span class="muted">of {escape(fmt_num(p["category_kols"] - 1))}</span>'
    return (
        f"<tr><td>{escape(p['title'])}</td><td class=num>{escape(p['shown'])}</td>"
        f"<td class=num>{roster}</td><td class=num>{category}</td></tr>"
    )


_NO_NOTES = '<td class="num">0</td><td class="num">–</td><td class="num">–</td><td class="num">–</td>'


def segment_rows(segments: Sequence[tuple[str, Row | None]]) -> Markup:
    """The rows of the organic / cooperation / video / photo table (report/segments.py), one line each."""
    out = []
    for name, row in segments:
        if row is None:
            cells = _NO_NOTES
        else:
            cells = (
                f"{num_cell(row['notes'])}{num_cell(row['reads_median'])}"
                f"{num_cell(row['like_collect_median'])}{pct_cell(row['like_collect_rate_pooled'])}"
            )
        out.append(f"<tr><td>{escape(name)}</td>{cells}</tr>\n")
    return Markup("".join(out))


def note_rows(notes: Sequence[Row], eng: Row | None) -> Markup:
    """The rows of a KOL page's top notes, one line each."""
    return Markup("\n".join(_note_row(n, eng) for n in notes))


def _note_row(n: Row, eng: Row | None) -> str:
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
        f"{num_cell(n['read_num'])}{num_cell(n['like_collect'])}{pct_cell(n['like_collect_rate'])}"
        f"{num_cell(n['like_num'])}{num_cell(n['collect_num'])}</tr>"
    )


def kol_link_cell(label: str | None, user_id: str, href: str) -> str:
    """A KOL's name (its label and id, or its id alone) linked to its page, sorting by its label."""
    if label:
        name = f'{escape(label)} <span class="muted">{escape(user_id)}</span>'
    else:
        name = f'<span class="muted">(no label)</span> {escape(user_id)}'
    return f'<td data-v="{escape(label or user_id)}"><a href="{escape(href)}">{name}</a></td>'


def leaderboard_rows(ranked: Sequence[Row]) -> Markup:
    """The rows of the index's leaderboard (index_page.py), one line each."""
    return Markup("".join(_leaderboard_row(r) + "\n" for r in ranked))


def _leaderboard_row(r: Row) -> str:
    flags, cost, category = r["flags"], r["cost"], r["category"]
    flag_names = [str(f["flag"]) for f in flags]
    names = escape(" ".join(flag_names))
    reasons = escape("; ".join(str(f["reason"]) for f in flags))
    shown = f'<span class="tag flag">{len(flags)}: {escape(", ".join(flag_names))}</span>'
    return (
        f'<tr data-user="{escape(r["user_id"])}" data-category="{escape(category or "")}" '
        f'data-cost="{escape(sort_value(cost))}" data-pct="{escape(sort_value(r["roster_pct"]))}" '
        f'data-flags="{len(flags)}">{num_cell(r["rank"])}{kol_link_cell(r["label"], r["user_id"], r["href"])}'
        f"{num_cell(r['notes'])}{pct_cell(r['like_collect_rate_pooled'])}{pct_cell(r['like_collect_rate_median'])}"
        f'{num_cell(r["reads_median"])}<td data-v="{escape(category or "")}">{escape(category or "–")}</td>'
        f"{pct_cell(r['roster_pct'])}{pct_cell(r['category_pct'])}"
        f"{num_cell(cost, '–' if missing(cost) else f'{cost:,.2f}')}"
        f'<td class="num" data-v="{len(flags)}" data-csv="{names}" title="{reasons}">'
        f"{shown if flags else '0'}</td></tr>"
    )


def unranked_rows(unranked: Sequence[Row]) -> Markup:
    """The rows of the index's table of KOLs not ranked, one line each."""
    return Markup(
        "".join(
            f"<tr>{kol_link_cell(r['label'], r['user_id'], r['href'])}{num_cell(r['notes'])}</tr>\n"
            for r in unranked
        )
    )
