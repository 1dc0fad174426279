"""The top-notes rows a KOL page builds in Python are, byte for byte, what its Jinja loop wrote."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest

from pgy_pipeline.report.render import _note_rows, environment

# The template's loop before the rows moved to Python (render.py: ~40 µs a row in Jinja).
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
    assert _note_rows(notes, eng) + "\n" == expected
    assert "<script>" not in expected and "javascript:" not in expected
