"""The report opened from disk in headless Chromium: charts draw, no script error, tables sort.

Needs Debian's chromium (`make e2e` installs it); skipped with a reason otherwise. Screenshots
go to $PGY_UI_SHOTS when it is set.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from pgy_pipeline.report import write_report
from pgy_pipeline_tests.report.conftest import CATEGORIES, A, B

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: `make e2e`"),
]


def _open(browser, url: str, shot: str):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []

    def on_console(msg) -> None:
        # Cover images live on the network: offline they fail to load, which is expected.
        if msg.type == "error" and not msg.location.get("url", "").startswith(("http://", "https://")):
            errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("svg.main-svg", timeout=15_000)
    if os.environ.get("PGY_UI_SHOTS"):
        Path(os.environ["PGY_UI_SHOTS"]).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(os.environ["PGY_UI_SHOTS"]) / shot), full_page=True)
    return page, errors


def test_the_report_draws_offline_in_a_browser(warehouse, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    result = write_report(warehouse, tmp_path / "report", compare=[A, B])
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page, errors = _open(browser, result.index.as_uri(), "report-index.png")
            assert page.locator(".plotly").count() >= 1
            # Sorting by median reads puts the KOL with fewer reads first, then flips.
            header = page.locator("#leaderboard th", has_text="median reads")
            header.click()
            first = page.locator("#leaderboard tbody tr").first.locator("td").nth(5).inner_text()
            header.click()
            assert page.locator("#leaderboard tbody tr").first.locator("td").nth(5).inner_text() != first
            assert errors == []

            for path, shot in (
                (result.kol_pages[A], "report-kol.png"),
                (result.compare, "report-compare.png"),
            ):
                assert path is not None
                page, errors = _open(browser, path.as_uri(), shot)
                assert page.locator("svg.main-svg").count() >= 3
                assert errors == [], path
        finally:
            browser.close()


def _shown(page) -> list[str]:
    rows = page.locator("#leaderboard tbody tr")
    return [
        rows.nth(i).get_attribute("data-user") or "" for i in range(rows.count()) if rows.nth(i).is_visible()
    ]


def test_the_shortlist_filters_and_exports_what_is_shown(warehouse, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    result = write_report(warehouse, tmp_path / "report")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page, errors = _open(browser, result.index.as_uri(), "report-index-filtered.png")
            assert sorted(_shown(page)) == sorted([A, B])
            page.select_option("#f-category", CATEGORIES[A])
            assert _shown(page) == [A]
            with page.expect_download() as download:
                page.click("#f-export")
            text = Path(download.value.path()).read_text(encoding="utf-8-sig")
            rows = list(csv.reader(io.StringIO(text)))
            assert rows[0][:3] == ["user_id", "rank", "KOL"] and "cost / 1,000 reads" in rows[0]
            assert [r[0] for r in rows[1:]] == [A]
            assert rows[1][rows[0].index("category")] == CATEGORIES[A]
            # A maximum cost hides the KOLs without a price (B) and those dearer than it.
            page.select_option("#f-category", "")
            page.fill("#f-cost", "1000000")
            assert _shown(page) == [A]
            page.fill("#f-cost", "0.01")
            assert _shown(page) == [] and "0 of 2 KOLs shown" in page.inner_text("#f-count")
            page.fill("#f-cost", "")
            page.select_option("#f-flags", "none")
            assert sorted(_shown(page)) == sorted([A, B])
            assert errors == []

            kol, errors = _open(browser, result.kol_pages[A].as_uri(), "report-kol-figures.png")
            assert kol.locator("#lifecycle svg.main-svg").count() >= 1
            assert (
                kol.locator("#costs tbody tr").count() == 1
                and kol.locator("#percentiles tbody tr").count() >= 5
            )
            assert errors == []
        finally:
            browser.close()
