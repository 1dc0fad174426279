"""Hostile content from the API: stored verbatim, and the report runs none of it.

The simulator serves titles, brand names and cover URLs written to run script; the real
pipeline buys, stores and reports them. The warehouse keeps every value as it came; the
report escapes the text and lets only http(s) URLs reach an attribute; Chromium, opening
every page, runs nothing.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pgy_pipeline_tests.report.test_browser import CHROMIUM, CHROMIUM_ARGS
from pgy_pipeline_tests.support import MakeEnv

# Each payload would set window.pwned (or call alert) if it ever ran.
TITLE = "<script>window.pwned='title'</script><img src=x onerror=\"window.pwned='img'\">好物"
BRAND = '"><svg onload="window.pwned=\'brand\'"></svg>'
JS_URL = "javascript:window.pwned='src';alert(1)"
DATA_URL = "data:text/html,<script>window.pwned='data'</script>"
CONTENT = {
    "kol_js": {"title": TITLE, "brand_name": BRAND, "img_url": JS_URL},
    "kol_data": {"title": TITLE, "brand_name": BRAND, "img_url": DATA_URL},
}
# Links the report makes itself (its own pages and plotly.js), relative to the page.
OWN = ("plotly.min.js", "../plotly.min.js", "index.html", "../index.html", "compare.html", "../compare.html")


class _Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href"):
                self.urls.append(value or "")
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}={value}")


@pytest.fixture
def reported(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_js": 12, "kol_data": 12}, note_content=CONTENT)
    assert all(r.success for r in env.refresh(list(CONTENT)))
    assert env.engagement().success
    return env


def _pages(env) -> list[Path]:
    root = env.data_dir / "reports"
    return [root / "index.html", *sorted((root / "kol").glob("*.html"))]


def test_hostile_content_is_stored_verbatim_and_reported_inert(reported):
    with reported.db() as conn:
        for user_id, content in CONTENT.items():
            rows = conn.execute(
                "SELECT DISTINCT title, img_url FROM notes WHERE user_id = ?", [user_id]
            ).fetchall()
            assert rows == [(content["title"], content["img_url"])]
            brands = conn.execute(
                "SELECT DISTINCT brand_name FROM notes WHERE user_id = ? AND brand_name IS NOT NULL",
                [user_id],
            ).fetchall()
            assert brands == [(content["brand_name"],)]
    # ... and decided at output: only http(s) URLs reach an attribute, no handler is written.
    pages = _pages(reported)
    assert len(pages) == 3
    for page in pages:
        parser = _Attributes()
        parser.feed(page.read_text(encoding="utf-8"))
        foreign = [
            u for u in parser.urls if u not in OWN and not u.startswith(("kol/", "http://", "https://"))
        ]
        assert foreign == [], page
        assert parser.handlers == [], page
    kol_page = (reported.data_dir / "reports" / "kol" / "kol_js.html").read_text(encoding="utf-8")
    assert "cover not shown: not an http(s) URL" in kol_page
    assert "&lt;script&gt;window.pwned" in kol_page and "&#34;&gt;&lt;svg onload" in kol_page


def _dismiss(dialog: Any, seen: list[str]) -> None:
    """A dialog the page opened: note its message (the test fails on any) and close it."""
    seen.append(dialog.message)
    dialog.dismiss()


@pytest.mark.e2e
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: `make e2e`")
def test_chromium_runs_none_of_the_hostile_content(reported):
    sync_api = pytest.importorskip("playwright.sync_api")
    dialogs: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for path in _pages(reported):
                page = browser.new_page()
                page.on("dialog", lambda d: _dismiss(d, dialogs))
                page.goto(path.as_uri())
                page.wait_for_load_state("load")
                if "kol" in path.parts:
                    # The top notes hold the hostile titles; their hover text is in the chart.
                    assert page.locator("table.sortable tbody tr").count() >= 1
                    page.locator("svg.main-svg").first.wait_for(timeout=15_000)
                assert page.evaluate("typeof window.pwned") == "undefined", path
                page.close()
        finally:
            browser.close()
    assert dialogs == []
