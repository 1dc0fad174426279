"""`pgy brands BRAND` and the kol_brands view, against the simulator's truth."""

from __future__ import annotations

import io
import statistics
from datetime import date, timedelta

import pandas as pd
from click.testing import CliRunner

from pgy_pipeline.cli import main
from pgy_pipeline_tests.support import ANCHOR


def _truth(env, days: int | None = None) -> dict[tuple[str, str], list[dict]]:
    """Cooperation notes with a brand, per (KOL, brand), as the simulator serves them on ANCHOR."""
    out: dict[tuple[str, str], list[dict]] = {}
    for user_id in ("kol_a", "kol_b"):
        for n in env.sim.expected_notes(user_id):
            since = ANCHOR - timedelta(days=days - 1) if days else date.min
            if n["brandName"] and date.fromisoformat(n["date"]) >= since:
                out.setdefault((user_id, n["brandName"]), []).append(n)
    return out


def test_kol_brands_lists_each_brand_with_its_notes_and_dates(refreshed):
    truth = _truth(refreshed)
    assert truth, "the simulator gives these KOLs cooperation notes"
    with refreshed.db() as conn:
        rows = conn.execute(
            "SELECT user_id, brand, notes, first_date, last_date, reads_median FROM kol_brands"
        ).fetchall()
    assert {(u, b): (n, f, last, r) for u, b, n, f, last, r in rows} == {
        key: (
            len(ns),
            min(date.fromisoformat(n["date"]) for n in ns),
            max(date.fromisoformat(n["date"]) for n in ns),
            statistics.median(n["readNum"] for n in ns),
        )
        for key, ns in truth.items()
    }


def test_pgy_brands_names_the_kols_of_a_brand_within_the_window(refreshed, monkeypatch):
    monkeypatch.setenv("PGY_TODAY", ANCHOR.isoformat())
    truth = _truth(refreshed, days=60)
    brand = max({b for _, b in truth}, key=lambda b: sum(len(v) for (_, bb), v in truth.items() if bb == b))
    out = CliRunner().invoke(main, ["brands", f"  {brand.upper()} ", "--days", "60", "--format", "csv"])
    assert out.exit_code == 0, out.output
    got = pd.read_csv(io.StringIO(out.stdout))
    expected = {u: ns for (u, b), ns in truth.items() if b == brand}
    assert dict(zip(got["user_id"], got["notes"], strict=True)) == {u: len(ns) for u, ns in expected.items()}
    for _, row in got.iterrows():
        assert row["last_date"] == max(n["date"] for n in expected[row["user_id"]])


def test_pgy_brands_says_when_no_kol_worked_with_the_brand(refreshed):
    out = CliRunner().invoke(main, ["brands", "NoSuchBrand"])
    assert out.exit_code == 0 and "no KOL published a cooperation note of 'NoSuchBrand'" in out.output
    assert CliRunner().invoke(main, ["brands", " "]).exit_code == 2
