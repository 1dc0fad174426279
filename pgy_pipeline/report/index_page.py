"""The report's front page: the ``kol_leaderboard`` view as a sortable table, each KOL linked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pgy_pipeline.report import charts
from pgy_pipeline.report.kol_page import DEFINITIONS
from pgy_pipeline.report.queries import ReportData, Row
from pgy_pipeline.report.render import render
from pgy_pipeline.report.shortlist import leaderboard_extras


def _ranked(data: ReportData, kols: Sequence[str], pages: Mapping[str, str]) -> list[Row]:
    ranked = [
        data.ranked[k] | {"href": pages[k]} | leaderboard_extras(data, k) for k in kols if k in data.ranked
    ]
    ranked.sort(key=lambda r: (r["rank"], r["user_id"]))
    return ranked


def _unranked(data: ReportData, kols: Sequence[str], pages: Mapping[str, str]) -> list[Row]:
    rows = []
    for k in kols:
        if k in data.ranked:
            continue
        eng = data.engagement.get(k)
        notes = eng["notes"] if eng else (None if data.live_notes.get(k) else 0)
        rows.append({"user_id": k, "label": data.label(k), "href": pages[k], "notes": notes})
    return rows


def index_page(
    data: ReportData, kols: Sequence[str], pages: Mapping[str, str], compare_href: str | None
) -> str:
    ranked = _ranked(data, kols, pages)
    return render(
        "index.html",
        title="KOL scorecard",
        up="",
        charts=bool(kols) and bool(data.ranked),
        notice=data.notice,
        definitions=DEFINITIONS,
        kols=kols,
        latest_fetch=data.latest_fetch,
        compare_href=compare_href,
        ranked=ranked,
        categories=sorted({r["category"] for r in ranked if r["category"]}),
        reach=charts.reach_vs_rate(ranked, {k: pages[k] for k in kols}) if ranked else None,
        unranked=_unranked(data, kols, pages),
    )
