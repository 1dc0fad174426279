"""A KOL's notes split four ways (organic, cooperation, video, photo), as the views give them.

Organic and cooperation come from the ``kol_organic_vs_cooperation`` view; video and photo
from the ``kol_engagement`` table (no view splits by format). Both carry the same four
figures, so the pages show them side by side in one table.
"""

from __future__ import annotations

from pgy_pipeline.report.layout import fmt_num, fmt_pct
from pgy_pipeline.report.queries import ReportData, Row

SEGMENTS = ("organic", "cooperation", "video", "photo")
_FIGURES = ("notes", "reads_median", "like_collect_median", "like_collect_rate_pooled")


def kol_segments(data: ReportData, user_id: str) -> list[tuple[str, Row | None]]:
    """(segment, figures) pairs; figures is None when the KOL has no such notes."""
    by_kind = {r["kind"]: r for r in data.organic_vs_cooperation.get(user_id, [])}
    eng = data.engagement.get(user_id)
    out: list[tuple[str, Row | None]] = [(k, by_kind.get(k)) for k in ("organic", "cooperation")]
    for prefix in ("video", "photo"):
        row = {f: eng[f"{prefix}_{f}"] for f in _FIGURES} if eng else None
        out.append((prefix, row if row and row["notes"] else None))
    return out


def segment_value(segments: list[tuple[str, Row | None]], name: str, figure: str) -> object:
    row = dict(segments).get(name)
    return row[figure] if row else None


def shown(value: object, figure: str) -> str:
    return fmt_pct(value) if figure.endswith("rate_pooled") else fmt_num(value)
