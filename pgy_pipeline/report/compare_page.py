"""Side by side: 2 to 5 KOLs a brand team is choosing between, with the same figures as their pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pgy_pipeline.report import charts, lifecycle_chart
from pgy_pipeline.report.kol_page import DEFINITIONS
from pgy_pipeline.report.layout import fmt_date, fmt_num, fmt_pct
from pgy_pipeline.report.queries import ReportData
from pgy_pipeline.report.render import render
from pgy_pipeline.report.segments import SEGMENTS, kol_segments, segment_value
from pgy_pipeline.report.segments import shown as segment_shown
from pgy_pipeline.report.shortlist import cheapest, percentile, shown

COMPARE_MIN, COMPARE_MAX = 2, 5


def _column(data: ReportData, user_id: str, viral: str) -> list[tuple[str, str]]:
    """(row title, shown value) of one KOL, in the order of the table's rows."""
    lb, eng = data.ranked.get(user_id), data.engagement.get(user_id)
    rows = [
        ("rank (pooled like_collect rate)", fmt_num(lb["rank"]) if lb else "not ranked"),
        ("live notes", fmt_num(lb["notes"] if lb else eng and eng["notes"])),
        ("like_collect rate (pooled)", fmt_pct(lb and lb["like_collect_rate_pooled"])),
        ("like_collect rate (median)", fmt_pct(lb and lb["like_collect_rate_median"])),
        ("median reads", fmt_num(lb and lb["reads_median"])),
        ("notes per week (90 days)", f"{eng['notes_per_week_90d']:.2f}" if eng else "–"),
        ("notes, last 30 days", fmt_num(eng and eng["notes_30d"])),
        (f"share of 千赞 notes ({viral})", fmt_pct(eng and eng["viral_high_rate"])),
        ("latest note", fmt_date(eng and eng["last_publish_date"])),
    ]
    rows += _buyer_rows(data, user_id)
    segments = kol_segments(data, user_id)
    for seg in SEGMENTS:
        for figure, title in (
            ("notes", "live notes"),
            ("reads_median", "median reads"),
            ("like_collect_rate_pooled", "like_collect rate (pooled)"),
        ):
            rows.append((f"{seg}: {title}", segment_shown(segment_value(segments, seg, figure), figure)))
    return rows


def _buyer_rows(data: ReportData, user_id: str) -> list[tuple[str, str]]:
    """The buyer's figures (issue 19): cost, peers, shares, flags, brands, rising notes."""
    eng = data.engagement.get(user_id)
    if not data.figures:
        return []
    cost, pct = cheapest(data, user_id), percentile(data, user_id)
    flags = data.figure("flags", user_id)
    brands = data.brands.get(user_id, [])
    price = "no price"
    if cost:
        price = f"{cost['price']:,.2f} {cost['currency']} ({cost['price_type']})" + (
            ", stale" if cost["price_stale"] else ""
        )
    return [
        ("category", data.category(user_id) or "–"),
        ("price (the cheapest per 1,000 reads)", price),
        (
            "cost / 1,000 reads (90 days)",
            shown("cost_per_1k_reads_90d", cost and cost["cost_per_1k_reads_90d"]),
        ),
        (
            "cost / like_collect (90 days)",
            shown("cost_per_like_collect_90d", cost and cost["cost_per_like_collect_90d"]),
        ),
        ("like_collect rate, pooled (90 days)", fmt_pct(eng and eng["like_collect_rate_pooled_90d"])),
        ("beats, roster (like_collect rate, 90 days)", fmt_pct(pct and pct["roster_percentile"])),
        (
            "beats, category (like_collect rate, 90 days)",
            (pct["category_note"] or fmt_pct(pct["category_percentile"])) if pct else "–",
        ),
        ("share of 百赞 notes (90 days)", fmt_pct(eng and eng["viral_low_rate_90d"])),
        ("share of 千赞 notes (90 days)", fmt_pct(eng and eng["viral_high_rate_90d"])),
        (
            "collects per like, 赞藏比 (90 days)",
            shown("collect_like_ratio_90d", eng and eng["collect_like_ratio_90d"]),
        ),
        ("flags", ", ".join(f["flag"] for f in flags) or "none"),
        (
            "brands (latest first)",
            ", ".join(b["brand"] for b in brands[:3]) + (" …" if len(brands) > 3 else "") or "none",
        ),
        ("rising notes", fmt_num(len(data.figure("rising", user_id)))),
    ]


def _viral_title(data: ReportData) -> str:
    # The 千赞 threshold is a setting of the kol_engagement build: the same for every KOL.
    likes = next((e["viral_high_likes"] for e in data.engagement.values()), None)
    return f"≥ {likes:,} likes" if likes else "no figures yet"


def compare_page(data: ReportData, kols: Sequence[str], pages: Mapping[str, str], index_href: str) -> str:
    names = [data.label(k) or k for k in kols]
    segs = [kol_segments(data, k) for k in kols]
    reads = [
        (n, [segment_value(s, g, "reads_median") for g in SEGMENTS]) for n, s in zip(names, segs, strict=True)
    ]
    rates = [
        (n, [segment_value(s, g, "like_collect_rate_pooled") for g in SEGMENTS])
        for n, s in zip(names, segs, strict=True)
    ]
    cadence = [
        (n, [c["month"] for c in data.cadence.get(k, [])], [c["notes"] for c in data.cadence.get(k, [])])
        for n, k in zip(names, kols, strict=True)
    ]
    history = [
        (n, [h["fetched_at"] for h in data.history.get(k, [])], [h["reads"] for h in data.history.get(k, [])])
        for n, k in zip(names, kols, strict=True)
    ]
    columns = [_column(data, k, _viral_title(data)) for k in kols]
    return render(
        "compare.html",
        title="KOL comparison",
        up="",
        charts=True,
        notice=data.notice,
        definitions=DEFINITIONS,
        index_href=index_href,
        kols=[
            {"user_id": k, "label": data.label(k), "href": pages[k], "cells": [v for _, v in col]}
            for k, col in zip(kols, columns, strict=True)
        ],
        row_titles=[title for title, _ in columns[0]],
        reads=charts.grouped_bars(SEGMENTS, reads, "median reads"),
        rates=charts.grouped_bars(SEGMENTS, rates, "like_collect rate (pooled)", True),
        cadence=charts.lines(cadence, "live notes per publish month", "notes", monthly=True),
        lifecycle=lifecycle_chart.lifecycle_medians(
            [(n, data.figure("lifecycle", k)) for n, k in zip(names, kols, strict=True)],
            "reads of the median note, days after publishing",
        )
        if any(data.figure("lifecycle", k) for k in kols)
        else None,
        history=(
            charts.lines(history, "total reads of the KOL's notes, per complete refresh", "reads")
            if any(len(h[1]) > 1 for h in history)
            else None
        ),
    )
