"""What every report page shares: its style and sort script, and how values are shown.

The pages themselves are Jinja2 templates (``templates/``, rendered by ``render.py`` with
autoescaping on). The pages load plotly.js by a relative path, so the folder works opened
from disk, mailed as a zip, or served from anywhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from markupsafe import escape

PLOTLY_JS = "plotly.min.js"

# System CJK fonts first so Chinese labels render on macOS, Windows and Linux alike.
FONT_STACK = (
    '-apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", '
    '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif'
)

CSS = f"""
body {{ font-family: {FONT_STACK}; margin: 0 auto; max-width: 1180px; padding: 16px 24px;
       color: #1f2328; background: #fff; }}
.notice {{ background: #fff4ce; border: 1px solid #d4a72c; padding: 6px 10px; border-radius: 4px; }}
h1 {{ font-size: 1.5em; margin: 0.2em 0; }} h2 {{ font-size: 1.15em; margin-top: 1.6em; }}
.muted {{ color: #656d76; }} .empty {{ padding: 12px; background: #f6f8fa; border-radius: 6px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9em; }}
th, td {{ padding: 5px 8px; border-bottom: 1px solid #d0d7de; text-align: left; vertical-align: top; }}
td.num, th.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
th.sortable {{ cursor: pointer; user-select: none; white-space: nowrap; }}
th.sortable::after {{ content: " \\2195"; color: #8c959f; }}
.kpis {{ display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }}
.kpi {{ border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 12px; min-width: 120px; }}
.kpi b {{ display: block; font-size: 1.25em; }}
.chart {{ width: 100%; }} .grid2 {{ display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }}
img.cover {{ display: block; width: 72px; height: 96px; object-fit: cover; background: #eaeef2; font-size: 0.7em;
            color: #656d76; overflow: hidden; }}
.tag {{ font-size: 0.8em; padding: 1px 6px; border-radius: 10px; background: #eaeef2; white-space: nowrap; }}
.tag.coop {{ background: #ffe8cc; }} .tag.viral {{ background: #d3f9d8; }} .tag.flag {{ background: #ffe3e3; }}
.tag.rising {{ background: #d0ebff; }}
.filters {{ display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; margin: 12px 0;
            padding: 8px 12px; background: #f6f8fa; border-radius: 6px; font-size: 0.9em; }}
a {{ color: #0969da; text-decoration: none; }} a:hover {{ text-decoration: underline; }}
nav {{ margin-bottom: 8px; }} .scroll {{ overflow-x: auto; }}
"""

# Sorts the rows of any table.sortable by the clicked column; cells carry data-v for numbers.
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th.sortable").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.dataset.dir !== "asc";
      th.dataset.dir = asc ? "asc" : "desc";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v || "", y = b.cells[col].dataset.v || "";
        if (x === "" || y === "") { return (x === "") - (y === ""); }  // blanks last either way
        var nx = Number(x), ny = Number(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def esc(value: Any) -> str:
    """``value`` as HTML text (the escaping the templates apply), for text placed in chart data."""
    return str(escape("" if value is None else str(value)))


_JOIN = "\x00"  # escaping leaves it as it is


def esc_all(values: Sequence[Any]) -> list[str]:
    """``esc`` of each of ``values``, with one call to the escaper for all of them (a page's ~170
    note titles: one call each was a fifth of the KOL page's time). Texts that hold the joining
    character themselves are escaped one by one."""
    texts = ["" if v is None else str(v) for v in values]
    joined = _JOIN.join(texts)
    if not texts or joined.count(_JOIN) != len(texts) - 1:
        return [str(escape(t)) for t in texts]
    return str(escape(joined)).split(_JOIN)


# An http(s) URL with a host and no whitespace, quote, angle bracket, backslash or control
# character: anything else (javascript:, data:, a relative path, a URL a browser would
# "repair") never reaches an attribute.
_HTTP_URL = re.compile(r"https?://[^\s\"'<>\\`\x00-\x1f\x7f]+", re.IGNORECASE)


def safe_url(value: Any) -> str | None:
    """``value`` when it is an http or https URL fit for ``src``/``href``, else None."""
    return value if isinstance(value, str) and _HTTP_URL.fullmatch(value) else None


def page_name(user_id: str) -> str:
    """File name of a KOL's page: the id itself when it is a plain roster id, else a hash."""
    if _SAFE_NAME.fullmatch(user_id):
        return f"{user_id}.html"
    return f"kol-{hashlib.sha256(user_id.encode()).hexdigest()[:16]}.html"


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def fmt_num(value: Any) -> str:
    """Counts and medians: thousands separators; a median of two reads may end in .5."""
    if missing(value):
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def fmt_pct(value: Any) -> str:
    return "–" if missing(value) else f"{float(value):.2%}"


def fmt_date(value: Any) -> str:
    if missing(value):
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat() if isinstance(value, date) else str(value)
