"""The buyer's figures against values computed by hand: shares and 赞藏比 per window and kind,
cost per 1,000 reads and per like_collect, and percentiles among peers (超越同行)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pgy_pipeline.warehouse.engagement import refresh_kol_engagement
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline.warehouse.writes import sync_kols
from pgy_pipeline_tests.warehouse.lab import Lab, note, pages_of

AS_OF = date(2026, 3, 10)


def ago(days: int) -> str:
    return (AS_OF - timedelta(days=days)).isoformat()


def _columns(lab: Lab, table: str, user_id: str, cols: list[str]) -> dict[str, object]:
    row = lab.query(f"SELECT {', '.join(cols)} FROM {table} WHERE user_id = ?", user_id)[0]
    return dict(zip(cols, row, strict=True))


@pytest.fixture
def shop(tmp_path):
    """KOL a: six notes of known figures; b: one old note only; c: photo notes and a video price."""
    lab = Lab(tmp_path)
    lab.fetch(
        "a",
        pages_of(
            [
                note(0, reads=1000, likes=150, collects=30, date=ago(3)),
                note(1, reads=1000, likes=50, collects=50, date=ago(3)),
                note(2, reads=10000, likes=1200, collects=300, date=ago(3), isAdvertise=True, brandName="X"),
                note(3, reads=2000, likes=100, collects=None, date=ago(60)),
                note(4, reads=500, likes=10, collects=5, date=ago(200)),
                note(5, reads=800, likes=None, collects=10, date=ago(3)),
            ]
        ),
    )
    lab.fetch("b", pages_of([note(10, reads=500, likes=10, collects=5, date=ago(200))]))
    lab.fetch("c", pages_of([note(20, reads=900, likes=20, collects=5, date=ago(5))]))
    sync_kols(lab.conn, [("a", "A", "food"), ("b", "B", None), ("c", "C", "food")])
    lab.conn.execute(
        "INSERT INTO kol_prices (user_id, price_type, price, valid_from, valid_to) VALUES "
        "('a', 'photo_note', 3000, $recent, NULL), ('a', 'photo_note', 1000, $old, NULL), "
        "('a', 'video_note', 5000, $old, $expired), ('a', 'bundle', 2000, $stale, NULL), "
        "('c', 'video_note', 4000, $recent, NULL)",
        {
            "recent": AS_OF - timedelta(days=10),
            "old": AS_OF - timedelta(days=400),
            "expired": AS_OF - timedelta(days=30),
            "stale": AS_OF - timedelta(days=200),
        },
    )
    refresh_kol_engagement(lab.conn, AS_OF)
    return lab


def test_shares_and_collect_like_ratio_per_window_and_kind(shop):
    got = _columns(
        shop,
        "kol_engagement",
        "a",
        [
            "viral_low_rate_30d", "viral_high_rate_30d", "organic_viral_low_rate_30d", "coop_viral_low_rate_30d",
            "coop_viral_high_rate_30d", "viral_low_rate_90d", "organic_viral_low_rate_90d",
            "collect_like_ratio_30d", "collect_like_ratio_90d", "collect_like_ratio",
            "organic_collect_like_ratio_30d", "like_collect_rate_pooled_30d", "coop_like_collect_rate_pooled_30d",
        ],
    )  # fmt: skip
    # 30 days: notes 0, 1, 2 have known likes (5 has none); 90 days add note 3 (100 likes: counted).
    assert got == pytest.approx(
        {
            "viral_low_rate_30d": 2 / 3,
            "viral_high_rate_30d": 1 / 3,
            "organic_viral_low_rate_30d": 1 / 2,
            "coop_viral_low_rate_30d": 1.0,
            "coop_viral_high_rate_30d": 1.0,
            "viral_low_rate_90d": 3 / 4,
            "organic_viral_low_rate_90d": 2 / 3,
            "collect_like_ratio_30d": 380 / 1400,
            "collect_like_ratio_90d": 380 / 1400,  # note 3's collects are unknown: left out
            "collect_like_ratio": 385 / 1410,
            "organic_collect_like_ratio_30d": 80 / 200,
            "like_collect_rate_pooled_30d": 1780 / 12000,  # note 5 (unknown likes) left out
            "coop_like_collect_rate_pooled_30d": 0.15,
        }
    )


def test_an_empty_window_has_no_share_ratio_or_rate(shop):
    got = _columns(
        shop,
        "kol_engagement",
        "b",
        ["notes_30d", "viral_low_rate_30d", "collect_like_ratio_30d", "like_collect_rate_pooled_30d"],
    )
    assert got == {
        "notes_30d": 0,
        "viral_low_rate_30d": None,
        "collect_like_ratio_30d": None,
        "like_collect_rate_pooled_30d": None,
    }


def test_cost_uses_the_current_price_against_the_matching_note_kind(shop):
    rows = shop.query(
        "SELECT user_id, price_type, note_kind, price, price_age_days, price_stale, reads_median_30d, "
        "like_collect_median_30d, cost_per_1k_reads_30d, cost_per_like_collect_30d, cost_per_1k_reads_90d, "
        "cost_per_like_collect_90d FROM kol_costs ORDER BY user_id, price_type"
    )
    # a's photo medians: 30 days reads 800/1000/1000/10000 -> 1000, like_collect 100/180/1500 -> 180;
    # 90 days add note 3 (2000 reads, like_collect unknown): the same medians.
    assert rows == [
        ("a", "bundle", "all", 2000, 200, True, 1000, 180, 2000.0, pytest.approx(2000 / 180), 2000.0,
         pytest.approx(2000 / 180)),
        ("a", "photo_note", "photo", 3000, 10, False, 1000, 180, 3000.0, pytest.approx(3000 / 180), 3000.0,
         pytest.approx(3000 / 180)),
        # c has a video price and no video note: a row with no cost, never a cost of 0.
        ("c", "video_note", "video", 4000, 10, False, None, None, None, None, None, None),
    ]  # fmt: skip
    # The superseded photo price and the expired video price are not current; b has no price at all.
    assert shop.query("SELECT count(*) FROM kol_costs WHERE user_id = 'b'") == [(0,)]


def test_a_price_older_than_the_setting_is_stale(shop):
    refresh_kol_engagement(shop.conn, AS_OF, EngagementSettings(price_stale_days=5))
    assert shop.query("SELECT price_type, price_stale FROM kol_costs WHERE user_id = 'a' ORDER BY 1") == [
        ("bundle", True),
        ("photo_note", True),
    ]


@pytest.fixture
def peers(tmp_path):
    """Single-note KOLs: food 100, 200, 200 (a tie), 400; beauty 300 alone; k6 50 with no category;
    k7 (food) with unknown reads. Photo prices of 100 for k1, k2, k4."""
    lab = Lab(tmp_path)
    reads = {"k1": 100, "k2": 200, "k3": 200, "k4": 400, "k5": 300, "k6": 50, "k7": None}
    for i, (user_id, r) in enumerate(reads.items()):
        lab.fetch(user_id, pages_of([note(i, reads=r, likes=10, collects=5, date=ago(2))]))
    cats = {"k1": "food", "k2": "food", "k3": "food", "k4": "food", "k5": "beauty", "k6": None, "k7": "food"}
    sync_kols(lab.conn, [(u, None, c) for u, c in cats.items()])
    lab.conn.execute(
        "INSERT INTO kol_prices (user_id, price_type, price, valid_from) "
        "SELECT unnest(['k1', 'k2', 'k4']), 'photo_note', 100, DATE '2026-01-01'"
    )
    refresh_kol_engagement(lab.conn, AS_OF, EngagementSettings(peer_min_kols=3))
    return lab


def _percentiles(lab: Lab, figure: str) -> dict[str, tuple[object, ...]]:
    rows = lab.query(
        "SELECT user_id, roster_kols, roster_percentile, category_kols, category_percentile, category_note "
        "FROM kol_percentiles WHERE figure = ? ORDER BY user_id",
        figure,
    )
    return {r[0]: r[1:] for r in rows}


def test_percentiles_count_the_peers_beaten_and_a_tie_beats_nobody(peers):
    got = _percentiles(peers, "reads_median_90d")
    small = "only 1 KOLs of this category have this figure (fewer than 3)"
    assert got == {
        "k1": (6, pytest.approx(1 / 5), 4, 0.0, None),
        "k2": (6, pytest.approx(2 / 5), 4, pytest.approx(1 / 3), None),
        "k3": (6, pytest.approx(2 / 5), 4, pytest.approx(1 / 3), None),
        "k4": (6, 1.0, 4, 1.0, None),
        "k5": (6, pytest.approx(4 / 5), 1, None, small),
        "k6": (6, 0.0, None, None, "no category on the roster"),
        # k7's reads are unknown: no row, and it is nobody's peer (roster_kols is 6, food has 4).
    }


def test_cheaper_beats_dearer_and_a_kol_without_a_price_has_no_cost_percentile(peers):
    # cost per 1,000 reads: k1 1000, k2 500, k4 250; k3 has no price.
    got = _percentiles(peers, "cost_per_1k_reads_90d")
    assert got == {
        "k1": (3, 0.0, 3, 0.0, None),
        "k2": (3, 0.5, 3, 0.5, None),
        "k4": (3, 1.0, 3, 1.0, None),
    }
    assert peers.query("SELECT DISTINCT price_type FROM kol_percentiles WHERE figure LIKE 'cost%'") == [
        ("photo_note",)
    ]


def test_a_single_kol_has_no_percentile(tmp_path):
    lab = Lab(tmp_path)
    lab.fetch("solo", pages_of([note(1, date=ago(1))]))
    refresh_kol_engagement(lab.conn, AS_OF)
    assert set(lab.query("SELECT roster_kols, roster_percentile, category_note FROM kol_percentiles")) == {
        (1, None, "no category on the roster")
    }
