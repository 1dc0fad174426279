"""How values and names are shown: the helpers every page uses."""

from __future__ import annotations

from datetime import date

from pgy_pipeline.report.layout import esc, esc_all, fmt_date, fmt_num, fmt_pct, page_name, safe_url
from pgy_pipeline.report.render import environment


def kol_name(label: str | None, user_id: str) -> str:
    return str(environment().get_template("macros.html").module.kol_name(label, user_id))  # type: ignore[attr-defined]


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
        '&lt;img src=x onerror=&#34;1&#34;&gt; <span class="muted">k1</span>'
    )
    assert "(no label)" in kol_name(None, "k1")
    assert esc(None) == ""


def test_many_texts_escaped_at_once_are_each_escaped_as_alone():
    texts = ['<script>alert("x")</script>', None, "", "a & b", "it's", "\x00<b>\x00", "名字", "\x00"]
    assert esc_all(texts) == [esc(t) for t in texts]  # texts with the joining character too
    plain = ['<img src=x onerror="1">', None, "", "&amp;", "\n<i>"]
    assert esc_all(plain) == [esc(t) for t in plain]
    assert esc_all([]) == []


def test_only_http_and_https_urls_may_reach_an_attribute():
    for good in ("http://ci.xiaohongshu.com/1040g?imageView2/2/w/540", "HTTPS://example.invalid/a.jpg"):
        assert safe_url(good) == good
    hostile = [
        "javascript:alert(1)",
        " javascript:alert(1)",
        "JaVaScRiPt:window.pwned=1",
        "java\tscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox",
        "//evil.invalid/x.jpg",
        "x.jpg",
        'https://example.invalid/a.jpg" onerror="alert(1)',
        "https://example.invalid/a b.jpg",
        "http://",
        "",
        None,
        42,
    ]
    assert [safe_url(u) for u in hostile] == [None] * len(hostile)
