"""Small SVG bar charts for materialisation metadata: a picture where people would rather look.

Rendered as Markdown images with a data: URI, so they need no file server and no extra
dependency; Dagster's UI shows them in the asset's materialisation metadata.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

_W, _BAR_H, _GAP, _LABEL_W, _VALUE_W = 640, 18, 6, 190, 70


def bar_chart_svg(
    labels: Sequence[str], values: Sequence[float], title: str, value_format: str = "{:.2%}"
) -> str:
    top = max((v for v in values if v == v), default=0.0) or 1.0  # NaN-safe
    height = 30 + len(labels) * (_BAR_H + _GAP)
    span = _W - _LABEL_W - _VALUE_W - 10
    rows = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 30 + i * (_BAR_H + _GAP)
        width = max(1.0, span * (value / top)) if value == value else 0.0
        shown = value_format.format(value) if value == value else "n/a"
        rows.append(
            f'<text x="{_LABEL_W - 6}" y="{y + 13}" text-anchor="end">{escape(label[:28])}</text>'
            f'<rect x="{_LABEL_W}" y="{y}" width="{width:.1f}" height="{_BAR_H}" fill="#4f43dd" rx="2"/>'
            f'<text x="{_LABEL_W + width + 6:.1f}" y="{y + 13}">{escape(shown)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
        f'font-family="sans-serif" font-size="12" fill="#222">'
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<text x="8" y="18" font-weight="bold">{escape(title)}</text>{"".join(rows)}</svg>'
    )


def markdown_image(svg: str, alt: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f"![{escape(alt)}](data:image/svg+xml;base64,{data})"
