"""How values and names are shown: the helpers every page uses."""

from __future__ import annotations

from datetime import date

from pgy_pipeline.report.layout import esc, fmt_date, fmt_num, fmt_pct, kol_name, page_name


def test_numbers_keep_a_half_read_median_and_show_unknown_as_a_dash():
    assert fmt_num(3120.5) == "3,120.5" and fmt_num(13798.0) == "13,798" and fmt_num(7) == "7"
    assert fmt_num(None) == fmt_num(float("nan")) == fmt_pct(None) == fmt_date(None) == "–"
    assert fmt_pct(0.0450652) == "4.51%" and fmt_date(date(2026, 3, 8)) == "2026-03-08"


def test_a_kol_id_that_is_no_plain_roster_id_never_becomes_a_path():
    assert page_name("5e76257f098108b3a494219f") == "5e76257f098108b3a494219f.html"
    for hostile in ("../../etc/passwd", "a/b", "x" * 65, "名字"):
        name = page_name(hostile)
        assert name.startswith("kol-") and "/" not in name and name.endswith(".html")


def test_labels_are_escaped_and_a_missing_label_says_so():
    assert kol_name('<img src=x onerror="1">', "k1") == (
        '&lt;img src=x onerror=&quot;1&quot;&gt; <span class="muted">k1</span>'
    )
    assert "(no label)" in kol_name(None, "k1")
    assert esc(None) == ""
