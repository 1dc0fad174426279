"""The chart data handed to plotly.js inside each page's <script> elements."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from pgy_pipeline.report import charts

HOSTILE = "</script><script>alert(1)</script><!-- a\u2028b\u2029c 笔记"


def test_chart_data_cannot_end_its_script_element_and_reads_back_unchanged():
    value = {"text": [HOSTILE], "x": [dt.date(2026, 11, 27)], "y": [Decimal("1.5"), 2]}
    text = charts.to_json(value)
    for unsafe in ("</", "<!--", "\u2028", "\u2029"):
        assert unsafe not in text
    assert json.loads(text) == {"text": [HOSTILE], "x": ["2026-11-27"], "y": [1.5, 2]}


def test_a_rendered_chart_has_one_script_that_draws_it():
    html = charts.render(
        {"data": [{"type": "bar", "x": [HOSTILE], "y": [1]}], "layout": {}}, "c1", height=300
    )
    assert html.count("<script>") == 1 and html.count("</script>") == 1
    assert 'Plotly.newPlot("c1",' in html and 'id="c1"' in html and "height:300px" in html


def test_a_value_a_chart_cannot_hold_is_refused_by_name():
    with pytest.raises(TypeError, match="a chart cannot hold object"):
        charts.to_json({"x": [object()]})
