"""The pieces a KOL page builds in Python (report/cells.py) are, byte for byte, what its Jinja wrote."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from pgy_pipeline.report.cells import kpi, note_rows, percentile_rows, segment_rows
from pgy_pipeline.report.render import environment

# The template's loop before the rows moved to Python (~40 µs a row in Jinja).
REFERENCE_LOOP = """{% for n in top_notes %}
{% set src = n.img_url|url %}
<tr><td>{% if src %}<img class="cover" src="{{ src }}" alt="cover of {{ n.title or n.note_id }}" loading="lazy" referrerpolicy="no-referrer">{% elif n.img_url %}<span class="muted">(cover not shown: not an http(s) URL)</span>{% endif %}</td><td>{{ n.title or "(untitled)" }}<br>{% if n.is_video %}<span class="tag">video</span>{% else %}<span class="tag">photo</span>{% endif %}{% if n.is_cooperation %} <span class="tag coop">cooperation{% if n.brand_name %}: {{ n.brand_name }}{% endif %}</span>{% endif %}{% if eng and not missing(n.like_num) and n.like_num >= eng.viral_high_likes %} <span class="tag viral">≥ {{ eng.viral_high_likes|num }} likes</span>{% endif %}<br><span class="muted">{{ n.note_id }}</span></td><td data-v="{{ n.publish_date or "" }}">{{ n.publish_date|date }}</td>{{ num_cell(n.read_num) }}{{ num_cell(n.like_collect) }}{{ pct_cell(n.like_collect_rate) }}{{ num_cell(n.like_num) }}{{ num_cell(n.collect_num) }}</tr>
{% endfor %}
"""


def _notes() -> list[dict[str, Any]]:
    titles = [None, "", "plain", "<script>alert(\"x\")</script> & 'q'", "标题 ≥ 100"]
    covers = [None, "", "http://img/x.jpg", "javascript:alert(1)", 'https://a/b?c=1&d="2"']
    brands = [None, "", "Brand <b>&</b>"]
    likes = [None, float("nan"), 0, 99, 100, 1000, 1234.5]
    combos = itertools.product(
        titles, covers, brands, likes, [True, False, None], [True, False], [None, date(2026, 1, 2)]
    )
    return [
        {
            "note_id": f"id<{i}>",
            "title": title,
            "img_url": cover,
            "brand_name": brand,
            "like_num": like,
            "is_video": video,
            "is_cooperation": coop,
            "publish_date": published,
            "read_num": like,
            "collect_num": 3,
            "like_collect": like,
            "like_collect_rate": 0.5 if like else like,
        }
        for i, (title, cover, brand, like, video, coop, published) in enumerate(combos)
    ]


@pytest.mark.parametrize("eng", [None, {"viral_high_likes": 100}, {"viral_high_likes": 1000}])
def test_the_rows_are_the_template_loops_byte_for_byte(eng):
    notes = _notes()
    expected = environment().from_string(REFERENCE_LOOP).render(top_notes=notes, eng=eng)
    assert note_rows(notes, eng) + "\n" == expected
    assert "<script>" not in expected and "javascript:" not in expected


HOSTILE = ["", "plain", "<script>alert(\"x\")</script> & 'q'", "标题 ≥ 100", "a\u2028b"]

# The KPI macro and its callers before the tiles moved to Python.
REFERENCE_KPIS = """{% macro kpi(name) -%}
<div class="kpi"><span class="muted">{{ name }}</span><b>{{ caller() }}</b></div>
{%- endmacro %}
{% call kpi(name) %}{{ value }}{% endcall %}|{% call kpi(name) %}{{ value }} <small class=muted>{{ small }}</small>{% endcall %}"""


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("value", [*HOSTILE, 0, 1.5, None])
def test_a_kpi_tile_is_the_macros_byte_for_byte(name, value):
    small = f"of {name}"
    expected = environment().from_string(REFERENCE_KPIS).render(name=name, value=value, small=small)

    assert f"{kpi(name, value)}|{kpi(name, value, small)}" == expected
    assert "<script>" not in expected


REFERENCE_PERCENTILES = """{% for p in percentiles %}
<tr><td>{{ p.title }}</td><td class=num>{{ p.shown }}</td><td class=num>{% if p.roster_kols < 2 %}<span class="muted">no other KOL has it</span>{% else %}{{ p.roster_percentile|pct }} <span class="muted">of {{ (p.roster_kols - 1)|num }}</span>{% endif %}</td><td class=num>{% if p.category_note %}<span class="muted">{{ p.category_note }}</span>{% else %}{{ p.category_percentile|pct }} <span class="muted">of {{ (p.category_kols - 1)|num }}</span>{% endif %}</td></tr>
{% endfor %}
"""


def test_the_peer_rows_are_the_template_loops_byte_for_byte():
    rows = [
        {
            "title": title,
            "shown": shown,
            "roster_kols": roster,
            "roster_percentile": pct,
            "category_note": note,
            "category_kols": 3 if note is None else None,
            "category_percentile": pct,
        }
        for title, shown, roster, pct, note in itertools.product(
            HOSTILE,
            ["1,234", "<b>"],
            [1, 2, 1001],
            [None, float("nan"), 0.0, 0.5, 1],
            [None, "", *HOSTILE[1:]],
        )
        if note or note is None
    ]
    expected = environment().from_string(REFERENCE_PERCENTILES).render(percentiles=rows)

    assert percentile_rows(rows) == expected
    assert percentile_rows([]) == ""


REFERENCE_SEGMENTS = """{% for name, row in segments %}
<tr><td>{{ name }}</td>{% if row is none %}<td class="num">0</td><td class="num">–</td><td class="num">–</td><td class="num">–</td>{% else %}{{ num_cell(row.notes) }}{{ num_cell(row.reads_median) }}{{ num_cell(row.like_collect_median) }}{{ pct_cell(row.like_collect_rate_pooled) }}{% endif %}</tr>
{% endfor %}
"""


def test_the_segment_rows_are_the_template_loops_byte_for_byte():
    values = [None, float("nan"), 0, 7, 1234.5]
    segments = [(name, None) for name in HOSTILE] + [
        (name, {"notes": v, "reads_median": v, "like_collect_median": v, "like_collect_rate_pooled": v})
        for name in HOSTILE
        for v in values
    ]
    expected = environment().from_string(REFERENCE_SEGMENTS).render(segments=segments)

    assert segment_rows(segments) == expected


def _reference_num_cell(value, shown=None):  # the cell before numbers skipped escaping
    from markupsafe import Markup, escape

    from pgy_pipeline.report.layout import fmt_num

    text = fmt_num(value) if shown is None else shown
    sort = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    return Markup(f'<td class="num" data-v="{escape(sort)}">{escape(text)}</td>')


@pytest.mark.parametrize(
    "value",
    [None, float("nan"), float("inf"), -1e20, 0, -3, 1234, 1234.5, 0.125, True, Decimal("1.5"), 2**70],
)
def test_a_numeric_cell_is_what_the_escaping_cell_wrote(value):
    from pgy_pipeline.report.cells import num_cell, pct_cell
    from pgy_pipeline.report.layout import fmt_pct

    assert num_cell(value) == _reference_num_cell(value)
    assert pct_cell(value) == _reference_num_cell(value, fmt_pct(value))
    for shown in HOSTILE:
        assert num_cell(value, shown) == _reference_num_cell(value, shown)
        assert num_cell(f"<b>{value}&", shown) == _reference_num_cell(f"<b>{value}&", shown)  # text sorts too


# The index's loops and the link macro before its rows moved to Python.
INDEX_REFERENCE = """{% from "macros.html" import kol_name %}
{% macro kol_link_cell(label, user_id, href) -%}
<td data-v="{{ label or user_id }}"><a href="{{ href }}">{{ kol_name(label, user_id) }}</a></td>
{%- endmacro %}
{% for r in ranked %}
<tr data-user="{{ r.user_id }}" data-category="{{ r.category or "" }}" data-cost="{{ r.cost|sort_value }}" data-pct="{{ r.roster_pct|sort_value }}" data-flags="{{ r.flags|length }}">{{ num_cell(r.rank) }}{{ kol_link_cell(r.label, r.user_id, r.href) }}{{ num_cell(r.notes) }}{{ pct_cell(r.like_collect_rate_pooled) }}{{ pct_cell(r.like_collect_rate_median) }}{{ num_cell(r.reads_median) }}<td data-v="{{ r.category or "" }}">{{ r.category or "–" }}</td>{{ pct_cell(r.roster_pct) }}{{ pct_cell(r.category_pct) }}{{ num_cell(r.cost, "–" if missing(r.cost) else "{:,.2f}".format(r.cost)) }}<td class="num" data-v="{{ r.flags|length }}" data-csv="{{ r.flags|map(attribute="flag")|join(" ") }}" title="{{ r.flags|map(attribute="reason")|join("; ") }}">{% if r.flags %}<span class="tag flag">{{ r.flags|length }}: {{ r.flags|map(attribute="flag")|join(", ") }}</span>{% else %}0{% endif %}</td></tr>
{% endfor %}
--
{% for r in unranked %}
<tr>{{ kol_link_cell(r.label, r.user_id, r.href) }}{{ num_cell(r.notes) }}</tr>
{% endfor %}
"""


def _index_rows() -> list[dict[str, Any]]:
    labels = [None, "", "厨房小白", "<i>Coco</i> & 'x'"]
    categories = [None, "", "美食", '<b>"c"</b>']
    costs = [None, float("nan"), 0, 12.345, 1234567.891, Decimal("3.5")]
    flags = [
        [],
        [{"flag": "stale_price", "reason": "price older than 180 days"}],
        [{"flag": "a<b", "reason": 'x & "y"'}, {"flag": "spike", "reason": "reads 9x"}],
    ]
    numbers = [None, float("nan"), 0, 7, 1234.5]
    combos = itertools.product(labels, categories, costs, flags, numbers)
    return [
        {
            "user_id": f"kol<{i}>&",
            "label": label,
            "href": f"kol/kol{i}.html?a=1&b=<2>",
            "rank": i,
            "notes": number,
            "like_collect_rate_pooled": number,
            "like_collect_rate_median": 0.05,
            "reads_median": number,
            "category": category,
            "roster_pct": number,
            "category_pct": None,
            "cost": cost,
            "flags": flag,
        }
        for i, (label, category, cost, flag, number) in enumerate(combos)
    ]


def test_the_index_rows_are_the_template_loops_byte_for_byte():
    from pgy_pipeline.report.cells import leaderboard_rows, unranked_rows

    rows = _index_rows()
    expected = environment().from_string(INDEX_REFERENCE).render(ranked=rows, unranked=rows)
    assert leaderboard_rows(rows) + "--\n" + unranked_rows(rows) == expected
    assert "<i>" not in expected and "<b>" not in expected and "<2>" not in expected
