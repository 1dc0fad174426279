"""The report's front page: the ``kol_leaderboard`` view as a sortable table, each KOL linked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pgy_pipeline.report import charts
from pgy_pipeline.report.kol_page import DEFINITIONS
from pgy_pipeline.report.layout import esc, fmt_date, fmt_pct, kol_name, num_cell, page
from pgy_pipeline.report.queries import ReportData


def _link(data: ReportData, user_id: str, pages: Mapping[str, str]) -> str:
    label = data.label(user_id)
    return (
        f'<td data-v="{esc(label or user_id)}"><a href="{esc(pages[user_id])}">'
        f"{kol_name(label, user_id)}</a></td>"
    )


def _leaderboard(data: ReportData, kols: Sequence[str], pages: Mapping[str, str]) -> str:
    ranked = [data.ranked[k] for k in kols if k in data.ranked]
    ranked.sort(key=lambda r: (r["rank"], r["user_id"]))
    if not ranked:
        return '<p class="empty">No KOL has 10 or more live notes yet, so none is ranked.</p>'
    head = (
        "<tr><th class='num sortable'>rank</th><th class=sortable>KOL</th>"
        "<th class='num sortable'>live notes</th><th class='num sortable'>like_collect rate (pooled)</th>"
        "<th class='num sortable'>like_collect rate (median)</th><th class='num sortable'>median reads</th></tr>"
    )
    rows = [
        f"<tr>{num_cell(r['rank'])}{_link(data, r['user_id'], pages)}{num_cell(r['notes'])}"
        f"{num_cell(r['like_collect_rate_pooled'], fmt_pct(r['like_collect_rate_pooled']))}"
        f"{num_cell(r['like_collect_rate_median'], fmt_pct(r['like_collect_rate_median']))}"
        f"{num_cell(r['reads_median'])}</tr>"
        for r in ranked
    ]
    chart = charts.render(charts.reach_vs_rate(ranked, {k: pages[k] for k in kols}), "reach", height=420)
    # A click on a dot opens that KOL's page (customdata holds its relative link).
    click = (
        "<script>var reach = document.getElementById('reach'); if (reach && reach.on) {"
        " reach.on('plotly_click', function (e) { window.location.href = e.points[0].customdata; }); }</script>"
    )
    table = f'<table class="sortable" id="leaderboard"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    return chart + click + table


def _unranked(data: ReportData, kols: Sequence[str], pages: Mapping[str, str]) -> str:
    rest = [k for k in kols if k not in data.ranked]
    if not rest:
        return ""
    rows = []
    for k in rest:
        eng = data.engagement.get(k)
        notes = eng["notes"] if eng else (None if data.notes.get(k) else 0)
        rows.append(f"<tr>{_link(data, k, pages)}{num_cell(notes)}</tr>")
    return (
        "<h2>Not ranked: fewer than 10 live notes</h2>"
        "<table class='sortable'><thead><tr><th class=sortable>KOL</th>"
        "<th class='num sortable'>live notes</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def index_page(
    data: ReportData, kols: Sequence[str], pages: Mapping[str, str], compare_href: str | None
) -> str:
    if not kols:
        body = (
            "<h1>KOL scorecard</h1><p class='empty'>The warehouse holds no KOL yet: add KOLs to the "
            "roster and run <code>pgy refresh</code>, then write the report again.</p>"
        )
        return page("KOL scorecard", body, charts=False, footer=esc(DEFINITIONS), notice=data.notice)
    compare = f' · <a href="{esc(compare_href)}">side-by-side comparison</a>' if compare_href else ""
    intro = (
        f"<h1>KOL scorecard</h1><p class='muted'>{len(kols):,} KOLs · latest fetch "
        f"{fmt_date(data.latest_fetch)}{compare}</p>"
        "<p>Ranked by pooled like_collect rate (likes + collects per read) over live notes, KOLs with at "
        "least 10 live notes. Click a column to sort, a KOL to open its page.</p>"
    )
    body = intro + _leaderboard(data, kols, pages) + _unranked(data, kols, pages)
    return page("KOL scorecard", body, charts=bool(data.ranked), footer=esc(DEFINITIONS), notice=data.notice)
