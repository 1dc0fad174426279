"""One KOL's scorecard page: reads over time, sponsored against organic, cadence, top notes, history."""

from __future__ import annotations

from pgy_pipeline.report import charts
from pgy_pipeline.report.layout import (
    esc,
    fmt_date,
    fmt_num,
    fmt_pct,
    kol_name,
    kpi,
    missing,
    num_cell,
    page,
)
from pgy_pipeline.report.queries import ReportData, Row
from pgy_pipeline.report.segments import kol_segments, segment_table

TOP_NOTES = 10
DEFINITIONS = (
    "like_collect = likes + collects (赞藏); like_collect rate = like_collect / reads. The Notes Details "
    "endpoint has no comments or shares, so this is not the platform's full engagement rate (互动率). "
    "Only live notes count (deleted or hidden notes are left out)."
)


def _kpis(data: ReportData, user_id: str) -> str:
    lb = data.ranked.get(user_id)
    eng = data.engagement.get(user_id)
    items = []
    if lb:
        items += [
            kpi("rank", f"{lb['rank']:,} <small class=muted>of {len(data.leaderboard):,}</small>"),
            kpi("live notes", fmt_num(lb["notes"])),
            kpi("like_collect rate (pooled)", fmt_pct(lb["like_collect_rate_pooled"])),
            kpi("like_collect rate (median)", fmt_pct(lb["like_collect_rate_median"])),
            kpi("median reads", fmt_num(lb["reads_median"])),
        ]
    else:
        items.append(kpi("rank", "not ranked <small class=muted>(fewer than 10 live notes)</small>"))
        if eng:
            items.append(kpi("live notes", fmt_num(eng["notes"])))
    if eng:
        items += [
            kpi("notes per week (90 days)", f"{eng['notes_per_week_90d']:.2f}"),
            kpi(f"notes with ≥ {eng['viral_high_likes']:,} likes", fmt_pct(eng["viral_high_rate"])),
            kpi("latest note", fmt_date(eng["last_publish_date"])),
        ]
    return f'<div class="kpis">{"".join(items)}</div>'


def _top_notes(notes: list[Row], eng: Row | None) -> str:
    top = sorted((n for n in notes if n["reads_rank"] <= TOP_NOTES), key=lambda n: n["reads_rank"])
    rows = []
    for n in top:
        img = (
            f'<img class="cover" src="{esc(n["img_url"])}" alt="cover of {esc(n["title"] or n["note_id"])}" '
            'loading="lazy" referrerpolicy="no-referrer">'
            if n["img_url"]
            else ""
        )
        tags = ['<span class="tag">video</span>' if n["is_video"] else '<span class="tag">photo</span>']
        if n["is_cooperation"]:
            brand = f": {esc(n['brand_name'])}" if n["brand_name"] else ""
            tags.append(f'<span class="tag coop">cooperation{brand}</span>')
        if eng and not missing(n["like_num"]) and n["like_num"] >= eng["viral_high_likes"]:
            tags.append(f'<span class="tag viral">≥ {eng["viral_high_likes"]:,} likes</span>')
        rows.append(
            f"<tr><td>{img}</td><td>{esc(n['title'] or '(untitled)')}<br>{' '.join(tags)}"
            f'<br><span class="muted">{esc(n["note_id"])}</span></td>'
            f'<td data-v="{esc(n["publish_date"] or "")}">{fmt_date(n["publish_date"])}</td>'
            f"{num_cell(n['read_num'])}{num_cell(n['like_collect'])}"
            f"{num_cell(n['like_collect_rate'], fmt_pct(n['like_collect_rate']))}"
            f"{num_cell(n['like_num'])}{num_cell(n['collect_num'])}</tr>"
        )
    head = (
        "<tr><th></th><th>title</th><th class=sortable>published</th><th class='num sortable'>reads</th>"
        "<th class='num sortable'>like_collect</th><th class='num sortable'>like_collect rate</th>"
        "<th class='num sortable'>likes</th><th class='num sortable'>collects</th></tr>"
    )
    return f'<table class="sortable"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _history(history: list[Row], name: str) -> str:
    if len(history) < 2:
        when = f" ({fmt_date(history[0]['fetched_at'])})" if history else ""
        return (
            f'<p class="empty">One complete refresh so far{when}: the history across refreshes '
            "appears after the next one.</p>"
        )
    fig = charts.history(history, f"{name}: total reads and like_collect of its notes, per complete refresh")
    return charts.render(fig, "history")


def kol_page(data: ReportData, user_id: str, index_href: str, compare_href: str | None) -> str:
    label = data.label(user_id)
    name = label or user_id
    notes = data.notes.get(user_id, [])
    eng = data.engagement.get(user_id)
    nav = f'<nav><a href="{esc(index_href)}">← leaderboard</a>'
    if compare_href:
        nav += f' · <a href="{esc(compare_href)}">comparison</a>'
    parts = [f"{nav}</nav><h1>{kol_name(label, user_id)}</h1>", _kpis(data, user_id)]
    removed = (data.roster.get(user_id) or {}).get("removed_at")
    if removed:
        parts.append(f'<p class="muted">Removed from the roster on {fmt_date(removed)}; history kept.</p>')
    if not notes:
        parts.append('<p class="empty">No live notes for this KOL in the warehouse yet.</p>')
    else:
        segments = kol_segments(data, user_id)
        cadence = data.cadence.get(user_id, [])
        parts += [
            "<h2>Reads and like_collect of each note, by publish date</h2>",
            charts.render(charts.notes_by_date(notes, name), "by-date", height=460),
            "<h2>Organic against cooperation, video against photo</h2>",
            charts.render(charts.segment_bars(segments, name), "segments", height=300),
            segment_table(segments),
            "<h2>Posting cadence</h2>",
            _cadence_kpis(eng),
            charts.render(
                charts.lines(
                    [(name, [c["month"] for c in cadence], [c["notes"] for c in cadence])],
                    f"{name}: live notes per publish month",
                    "notes",
                    monthly=True,
                ),
                "cadence",
                height=280,
            ),
            f"<h2>Top {TOP_NOTES} notes by reads</h2>",
            _top_notes(notes, eng),
        ]
    parts += ["<h2>History across refreshes</h2>", _history(data.history.get(user_id, []), name)]
    footer = esc(DEFINITIONS)
    if eng:
        footer += f" Cadence and video/photo figures as of {fmt_date(eng['as_of_date'])} (kol_engagement)."
    return page(
        f"{name} · KOL scorecard", "\n".join(parts), depth=1, charts=True, footer=footer, notice=data.notice
    )


def _cadence_kpis(eng: Row | None) -> str:
    if not eng:
        return ""
    return (
        '<div class="kpis">'
        + kpi("notes, last 30 days", fmt_num(eng["notes_30d"]))
        + kpi("notes, last 90 days", fmt_num(eng["notes_90d"]))
        + kpi("notes per week (90 days)", f"{eng['notes_per_week_90d']:.2f}")
        + "</div>"
    )
