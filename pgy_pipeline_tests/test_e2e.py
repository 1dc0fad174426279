"""End to end through `pgy ui` (dagster dev on loopback): the UI in headless Chromium, and GraphQL.

The browser test is a person's path through the UI.

Starts `pgy ui` on loopback, opens the asset graph, materialises one KOL partition from
the asset page's "Materialize…" dialog, waits for the run to succeed, and saves
screenshots under the test's temp dir (and bench/out/ui-*.png when PGY_UI_SHOTS is set).
Needs Debian's chromium (`make e2e` installs it); skipped with a reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline_tests.e2e_helpers import ADD_PARTITION, LAUNCH, LOCATION, RUN_STATUS, dagster_dev, gql
from pgy_pipeline_tests.support import expected_frame, stored_frame

__all__ = ["dagster_dev"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Materialising from an asset page runs Dagster's implicit asset job: look at every run.
RUNS = """query { runsOrError(filter: {tags: [{key: "dagster/partition", value: "kol_ui"}]}) {
    ... on Runs { results { runId status } } } }"""

STEPS = """query Steps($id: ID!) { runOrError(runId: $id) { ... on Run { stepStats { stepKey status } } } }"""

pytestmark = pytest.mark.e2e
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: `make e2e`")


def _wait_for_run(base: str, run_id: str, timeout_s: float = 120) -> str | None:
    status = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = gql(base, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(0.5)
    return status


def _dismiss_newsletter(page) -> None:
    """Dagster shows a newsletter dialog on a first visit, a moment after the page loads."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5_000)
        skip.click()
    except Exception:  # not shown this time
        pass


def _open_materialize(page) -> None:
    page.get_by_role("button", name="Materialize…").click()
    # kol_notes can be subset (its checks run only when selected), so the UI may not ask
    # to confirm materialising note_pages with notes; older layouts did. Wait for whichever
    # comes, the confirmation or the dialog itself, however slow the machine.
    confirm = page.get_by_role("button", name="Confirm")
    confirm.or_(page.get_by_text("Select a partition or create one")).first.wait_for(timeout=30_000)
    if confirm.is_visible():
        confirm.click()


def _pick_partition(page, key: str, shots: Path) -> None:
    """Choose `key` in the Materialize dialog's partition picker.

    The picker is a popover with a search box. On a loaded machine the popover can open after
    the keystrokes were sent, so they go nowhere: open it, wait for its box to take focus, fill
    it, and try again (a few times) when the filtered list does not show the key or re-renders
    under the click. Escape may close the whole dialog rather than the popover; then it is
    opened again.
    """
    picker = page.get_by_text("Select a partition or create one")
    item = page.get_by_role("menuitem").filter(has_text=key).first
    for _attempt in range(4):
        if not picker.is_visible():
            _open_materialize(page)
        picker.click()
        box = page.locator("input:focus")
        try:
            box.wait_for(timeout=10_000)
            box.fill(key)
            item.wait_for(timeout=10_000)
            # The list re-renders as the filter settles: the item seen above may be gone
            # a moment later, so the click belongs to the attempt too.
            item.click(timeout=10_000)
        except Exception:  # popover not open yet, the list not filtered, or re-rendered: retry
            page.keyboard.press("Escape")
            page.wait_for_timeout(300)
            continue
        return
    page.screenshot(path=str(shots / "ui-partition-picker-failed.png"))
    raise AssertionError(f"the partition picker never listed {key!r} (see ui-partition-picker-failed.png)")


@needs_chromium
@pytest.mark.timeout(300)
def test_materialise_one_kol_from_the_ui(dagster_dev):
    from playwright.sync_api import sync_playwright

    base, sim, tmp_path, _proc = dagster_dev
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
    assert gql(base, ADD_PARTITION, {"selector": selector, "name": "kols", "key": "kol_ui"})
    shots = Path(os.environ["PGY_UI_SHOTS"]) if os.environ.get("PGY_UI_SHOTS") else tmp_path
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(base + "/asset-groups", wait_until="networkidle")
        _dismiss_newsletter(page)
        for group in ("kol_notes", "engagement"):
            page.get_by_text(group, exact=True).first.wait_for(timeout=30_000)
        page.screenshot(path=str(shots / "ui-asset-graph.png"))

        page.goto(base + "/assets/notes", wait_until="networkidle")
        _dismiss_newsletter(page)
        _open_materialize(page)
        _pick_partition(page, "kol_ui", shots)
        launch = page.get_by_role("button", name="Launch 1 run")
        launch.wait_for(timeout=15_000)
        page.keyboard.press("Escape")
        launch.click()

        status = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            runs = gql(base, RUNS, {})["runsOrError"]["results"]
            status = runs[0]["status"] if runs else None
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(1)
        assert status == "SUCCESS", (tmp_path / "dagster_dev.log").read_text(errors="replace")[-3000:]
        # The checks the UI selected with `notes` ran in the run; none was planned and skipped.
        steps = gql(base, STEPS, {"id": runs[0]["runId"]})["runOrError"]["stepStats"]
        assert [s["status"] for s in steps] == ["SUCCESS"], steps
        page.goto(base + f"/runs/{runs[0]['runId']}", wait_until="networkidle")
        page.get_by_text("Success", exact=False).first.wait_for(timeout=30_000)
        page.screenshot(path=str(shots / "ui-run.png"))
        page.goto(base + "/assets/notes?view=partitions", wait_until="networkidle")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "ui-partitions.png"))

        # The engagement job writes the report; its asset page links to it.
        params = {"selector": {**selector, "jobName": "refresh_engagement"}, "runConfigData": {}}
        launched = gql(base, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        assert _wait_for_run(base, launched["run"]["runId"]) == "SUCCESS"
        page.goto(base + "/assets/kol_report", wait_until="networkidle")
        link = page.get_by_text("reports/index.html", exact=False).first
        link.wait_for(timeout=30_000)
        page.screenshot(path=str(shots / "ui-kol-report.png"))
        browser.close()
    with Warehouse(tmp_path / "data").connect_snapshot() as conn:
        assert stored_frame(conn, "kol_ui") == expected_frame(sim, "kol_ui")


# Runs last in this module: it stops the shared dagster dev with Ctrl-C.
@pytest.mark.timeout(240)
def test_a_run_launched_through_graphql_lands_in_duckdb_and_ctrl_c_stops_it(dagster_dev):
    base, sim, tmp_path, proc = dagster_dev
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
    added = gql(base, ADD_PARTITION, {"selector": selector, "name": "kols", "key": "kol_e2e"})
    assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess", added
    params = {
        "selector": {**selector, "jobName": "refresh_kols"},
        "runConfigData": {"ops": {"kol_notes": {"config": {"order_type": "MOST_READ"}}}},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "kol_e2e"}]},
    }
    launched = gql(base, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status = None
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        status = gql(base, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(0.5)
    assert status == "SUCCESS", (tmp_path / "dagster_dev.log").read_text(errors="replace")[-3000:]
    with Warehouse(tmp_path / "data").connect_snapshot() as conn:
        assert stored_frame(conn, "kol_e2e") == expected_frame(sim, "kol_e2e")
        assert conn.execute("SELECT order_type FROM fetches WHERE user_id = 'kol_e2e'").fetchone() == (
            "MOST_READ",
        )
    # Ctrl-C (SIGINT to the process group, as a terminal sends it) stops webserver and daemon.
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) is not None
