"""The KOL assets materialised in-process against the simulator, checked against its truth."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline_tests.support import MakeEnv, expected_frame, stored_frame

COUNTS = {"kol_empty": 0, "kol_nine": 9, "kol_forty": 40, "kol_eight": 8}


def test_refresh_stores_exactly_the_simulators_notes(make_env: MakeEnv):
    env = make_env(fixed_counts=COUNTS)
    runs = env.refresh(list(COUNTS))
    assert [r.success for r in runs] == [True]
    with env.db() as conn:
        for user_id in COUNTS:
            assert stored_frame(conn, user_id) == expected_frame(env.sim, user_id), user_id
        snaps = conn.execute("SELECT count(*) FROM note_snapshots").fetchone()[0]
        fetches = conn.execute(
            "SELECT user_id, status, is_full, pages, calls FROM fetches ORDER BY user_id"
        ).df()
    assert snaps == sum(COUNTS.values())
    assert set(fetches["status"]) == {"complete"}
    # 0 notes: one call; 8 notes: page 1 reaches total, no second call; 9: two pages; 40: five.
    assert dict(zip(fetches.user_id, fetches.calls, strict=True)) == {
        "kol_empty": 1,
        "kol_eight": 1,
        "kol_nine": 2,
        "kol_forty": 5,
    }
    assert env.sim.counters().calls_total == 9
    mat, failed = env.partition_status("notes")
    assert mat == set(COUNTS) and not failed
    mat_pages, _ = env.partition_status("note_pages")
    assert mat_pages == set(COUNTS)


def test_raw_pages_are_kept_losslessly_without_the_token(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_nine": 9})
    env.refresh(["kol_nine"])
    files = sorted((env.data_dir / "raw" / "kol_nine").glob("*.jsonl"))
    assert len(files) == 1
    text = files[0].read_text(encoding="utf-8")
    assert "tok-PIPELINE-SECRET" not in text and "token" not in text
    import json

    lines = [json.loads(line) for line in text.splitlines()]
    assert sorted(p["page_number"] for p in lines) == [1, 2]
    body = lines[0]["body"]  # the response body, embedded as JSON
    stored = RawStore(env.data_dir).pages("kol_nine", files[0].stem)
    assert json.loads(stored[1].body) == body  # its exact text is recovered for replays
    assert body["code"] == 0 and body["data"]["total"] == 9
    assert {"fetched_at", "run_id", "http_status", "code", "request_id", "params"} <= set(lines[0])
    assert lines[0]["params"]["userId"] == "kol_nine"


def test_refreshing_twice_is_idempotent_and_keeps_history(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_forty": 40})
    env.refresh(["kol_forty"])
    with env.db() as conn:
        first = conn.execute(
            "SELECT * EXCLUDE (last_seen_at, last_fetch_id) FROM notes ORDER BY note_id"
        ).df()
    env.refresh(["kol_forty"])
    with env.db() as conn:
        second = conn.execute(
            "SELECT * EXCLUDE (last_seen_at, last_fetch_id) FROM notes ORDER BY note_id"
        ).df()
        snaps = conn.execute("SELECT count(DISTINCT fetch_id), count(*) FROM note_snapshots").fetchone()
    pd.testing.assert_frame_equal(first, second)
    assert snaps == (2, 80)


def test_a_note_missing_from_two_full_fetches_is_marked_gone_not_deleted(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_forty": 40})
    env.refresh(["kol_forty"])
    env.sim.update(fixed_counts={"kol_forty": 37})
    after_ids = {n["noteId"] for n in env.sim.expected_notes("kol_forty")}
    assert len(after_ids) == 37
    env.refresh(["kol_forty"])
    with env.db() as conn:  # one complete fetch is not evidence yet (it could be a glitch)
        assert conn.execute("SELECT count(*) FROM notes WHERE gone_at IS NOT NULL").fetchone() == (0,)
    env.refresh(["kol_forty"])
    with env.db() as conn:
        rows = conn.execute(
            "SELECT note_id, gone_at IS NOT NULL FROM notes WHERE user_id = 'kol_forty'"
        ).fetchall()
    assert len(rows) == 40  # nothing deleted
    gone = {r[0] for r in rows if r[1]}
    assert len(gone) == 3 and not (gone & after_ids)


def test_a_filtered_fetch_stores_its_notes_and_never_marks_gone(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_forty": 40})
    env.refresh(["kol_forty"])
    runs = env.refresh(["kol_forty"], {"advertise_switch": "ORGANIC_ONLY", "note_type": "VIDEO"})
    assert runs[0].success
    with env.db() as conn:
        gone = conn.execute("SELECT count(*) FROM notes WHERE gone_at IS NOT NULL").fetchone()[0]
        last = conn.execute(
            "SELECT is_full, notes_returned, advertise_switch, note_type FROM fetches ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
    expected = env.sim.note_count("kol_forty", advertise_switch="ORGANIC_ONLY", note_type="VIDEO")
    assert gone == 0
    assert last == (False, expected, "ORGANIC_ONLY", "VIDEO")


def test_engagement_tables_match_a_pandas_computation(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_forty": 40, "kol_nine": 9})
    env.refresh(["kol_forty", "kol_nine"])
    assert env.engagement().success
    truth = pd.DataFrame(env.sim.expected_notes("kol_forty"))
    lc = truth["likeNum"] + truth["collectNum"]
    with env.db() as conn:
        kol = conn.execute("SELECT * FROM kol_engagement WHERE user_id = 'kol_forty'").df().iloc[0]
        per_note = conn.execute(
            "SELECT note_id, like_collect, like_collect_rate FROM note_engagement WHERE user_id = 'kol_forty'"
        ).df()
        n_rows = conn.execute("SELECT count(*) FROM kol_engagement").fetchone()[0]
    assert n_rows == 2
    assert kol["notes"] == 40
    assert kol["reads_median"] == truth["readNum"].median()
    known = lc.notna() & (truth["readNum"] > 0)
    assert abs(kol["like_collect_rate_pooled"] - lc[known].sum() / truth["readNum"][known].sum()) < 1e-12
    assert kol["viral_high_rate"] == (truth["likeNum"] >= 1000).mean()
    coop = truth["isAdvertise"] | truth["brandName"].notna()
    assert kol["coop_notes"] == coop.sum() and kol["organic_notes"] == (~coop).sum()
    assert len(per_note) == 40 and per_note["like_collect"].sum() == lc.sum()
    both = truth["likeNum"].notna() & truth["collectNum"].notna()
    assert kol["collect_like_ratio"] == pytest.approx(
        truth["collectNum"][both].sum() / truth["likeNum"][both].sum()
    )
    organic = truth[~coop]
    assert kol["organic_viral_low_rate"] == pytest.approx((organic["likeNum"] >= 100).mean())
    # The run's metadata lists the notes taking off and the flags, as the warehouse holds them.
    event = env.instance.get_latest_materialization_event(dg.AssetKey("kol_engagement"))
    assert event is not None and event.asset_materialization is not None
    meta = event.asset_materialization.metadata
    with env.db() as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM rising_notes), (SELECT count(*) FROM kol_flags)"
        ).fetchone()
    assert (meta["rising_notes_count"].value, meta["flags_count"].value) == counts
    assert "rising_notes" in meta and "flags" in meta


def test_every_table_and_column_has_a_comment(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_nine": 9})
    env.refresh(["kol_nine"])
    env.engagement()
    with env.db() as conn:
        tables = conn.execute("SELECT table_name, comment FROM duckdb_tables() WHERE NOT internal").fetchall()
        cols = conn.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE NOT internal AND schema_name = 'main' AND (comment IS NULL OR comment = '')"
        ).fetchall()
        views = conn.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall()
    names = {t for t, _ in tables}
    assert {
        "notes",
        "note_snapshots",
        "kol_engagement",
        "fetches",
        "api_calls",
        "kols",
        "kol_costs",
        "kol_percentiles",
        "note_lifecycle",
        "kol_lifecycle",
        "kol_flags",
    } <= names
    assert {v for v, _ in views} == {
        "kol_brands",
        "rising_notes",
        "note_engagement",
        "kol_leaderboard",
        "kol_organic_vs_cooperation",
        "kol_recent_notes",
        "note_growth",
        "api_spend_daily",
    }
    assert all(c for _, c in tables) and all(c for _, c in views)
    assert cols == []


def test_the_analyst_views_answer_after_a_refresh(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_forty": 40, "kol_nine": 9})
    env.refresh(["kol_forty", "kol_nine"])
    env.refresh(["kol_forty"])
    env.engagement()
    with env.db() as conn:
        board = conn.execute("SELECT user_id, rank FROM kol_leaderboard").fetchall()
        kinds = conn.execute(
            "SELECT sum(notes) FROM kol_organic_vs_cooperation WHERE user_id = 'kol_forty'"
        ).fetchone()
        growth = conn.execute("SELECT count(*) FROM note_growth WHERE reads_gained IS NOT NULL").fetchone()
        spend = conn.execute("SELECT sum(calls) FROM api_spend_daily").fetchone()
    assert board == [("kol_forty", 1)]  # kol_nine has fewer than 10 notes
    assert kinds == (40,)
    assert growth == (40,)  # one growth row per note of the second fetch
    assert spend == (5 + 2 + 5,)


def test_a_kol_fetched_recently_is_not_bought_again_unless_forced(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_forty": 40}, pgy={"fresh_for_h": 12.0})
    env.refresh(["kol_forty"])
    assert env.sim.counters().calls_total == 5
    again = env.refresh(["kol_forty"])
    assert again[0].success and env.sim.counters().calls_total == 5  # nothing bought
    forced = env.refresh(["kol_forty"], {"force": True})
    assert forced[0].success and env.sim.counters().calls_total == 10
