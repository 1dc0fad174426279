"""Bad input gets a clear error naming what was wrong, and nothing is lost or half-written."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from pgy_pipeline.cli import main
from pgy_pipeline.roster import load_roster, parse_roster
from pgy_pipeline.warehouse import Warehouse, WarehouseError
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.support import MakeEnv, expected_frame, stored_frame

REPO = Path(__file__).resolve().parents[1]


def test_bad_roster_lines_are_named_and_the_good_ones_still_load(tmp_path):
    path = tmp_path / "kols.csv"
    lines = [
        "user_id,label",
        "good_1,Alice",  # 2
        "",  # 3: blank lines are spacing, not errors
        "good_1,again",  # 4 duplicate
        "x" * 65,  # 5 too long
        "o'brien;DROP TABLE notes,x",  # 6 SQL quote
        "../etc/passwd,x",  # 7 path separator
        "bell\x07,x",  # 8 control character
        "用户一号,中文名",  # 9 non-ASCII id
        "good_2,小红书博主 🌸",  # 10 non-ASCII label is fine
        "good_3," + "L" * 201,  # 11 label too long
        "nul\x00id,x",  # 12 NUL
        "good_4",  # 13
    ]
    path.write_bytes("\n".join(lines).encode("utf-8") + b"\n")
    roster = load_roster(path)
    assert roster.user_ids == ["good_1", "good_2", "good_4"]
    assert roster.kols[1].label == "小红书博主 🌸"
    problems = {p.line: p.message for p in roster.problems}
    assert set(problems) == {4, 5, 6, 7, 8, 9, 11, 12}
    assert "duplicate user_id 'good_1' (first on line 2)" in problems[4]
    assert "65 characters long" in problems[5]
    assert "path separator" in problems[7]
    assert "control character" in problems[8]
    assert "only contain ASCII letters" in problems[9]
    assert "NUL" in problems[12]


def test_a_roster_category_is_optional_and_checked_like_a_label():
    roster = parse_roster("user_id,label,category\na,A,美食\nb,,\nc,C\nd,D,bad\x07\ne,E,x,extra\n")
    assert [(k.user_id, k.label, k.category) for k in roster.kols] == [
        ("a", "A", "美食"),
        ("b", None, None),
        ("c", "C", None),
    ]
    assert [str(p) for p in roster.problems] == [
        "line 5: category contains a NUL or control character",
        "line 6: expected at most 3 columns (user_id,label,category), got 4",
    ]


def test_a_missing_or_unreadable_roster_says_so():
    assert parse_roster("user_id,label\n").kols == ()
    roster = load_roster("/nonexistent/kols.csv")
    # The file as a whole, not a "line 0" of it.
    assert roster.kols == () and str(roster.problems[0]) == "roster file /nonexistent/kols.csv does not exist"


def test_invalid_run_config_is_rejected_before_any_call(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 9})
    env.add_kols(["kol_a"])
    job = env.defs.resolve_job_def("refresh_kols")
    with pytest.raises(dg.DagsterInvalidConfigError, match="REELS"):
        job.execute_in_process(
            instance=env.instance,
            partition_key="kol_a",
            run_config={"ops": {"kol_notes": {"config": {"note_type": "REELS"}}}},
        )
    assert env.sim.counters().calls_total == 0


def test_the_cli_rejects_bad_ids_and_filters_before_any_call(tmp_path, monkeypatch):
    monkeypatch.setenv("PGY_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    bad_id = runner.invoke(main, ["refresh", "../../etc"])
    assert bad_id.exit_code == 2 and "path separator" in bad_id.output
    bad_filter = runner.invoke(main, ["refresh", "kol_a", "--note-type", "REELS"])
    assert bad_filter.exit_code == 2 and "REELS" in bad_filter.output
    bad_add = runner.invoke(main, ["kols", "add", "a b"])
    assert bad_add.exit_code == 2 and "may only contain" in bad_add.output


def test_a_user_id_the_api_rejects_fails_that_kol_only_and_is_not_retried(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_ok": 9, "kol_bad": 9}, user_codes={"kol_bad": 400})
    runs = env.refresh(["kol_ok", "kol_bad"])
    assert not runs[0].success and "rejected (400 x1)" in runs[0].failure
    failure = PipelineState(env.data_dir).failure("kol_bad")
    assert failure is not None and failure.gave_up and "invalid parameters" in (failure.message or "")
    with env.db() as conn:
        assert stored_frame(conn, "kol_ok") == expected_frame(env.sim, "kol_ok")
        assert stored_frame(conn, "kol_bad") == []


def test_unknown_new_fields_are_kept_in_the_raw_layer(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 9}, extra_fields=True)
    assert env.refresh(["kol_a"])[0].success
    raw = next((env.data_dir / "raw" / "kol_a").glob("*.jsonl")).read_text(encoding="utf-8")
    assert "shareNumV2" in raw and "xsecToken" in raw and "cursorV2" in raw
    with env.db() as conn:
        assert stored_frame(conn, "kol_a") == expected_frame(env.sim, "kol_a")


def test_a_lost_database_is_rebuilt_from_the_raw_layer_without_a_call(make_env: MakeEnv, monkeypatch):
    env = make_env(fixed_counts={"kol_a": 40, "kol_b": 9})
    env.refresh(["kol_a", "kol_b"])
    with env.db() as conn:
        before = conn.execute("SELECT * EXCLUDE (last_fetch_id) FROM notes ORDER BY note_id").fetchall()
    calls = env.sim.counters().calls_total
    wh = Warehouse(env.data_dir)
    wh.working_path.unlink()
    wh.published_path.unlink()
    monkeypatch.setenv("PGY_DATA_DIR", str(env.data_dir))
    # Without a snapshot, a query says what to do.
    missing = CliRunner().invoke(main, ["query", "SELECT 1"])
    assert missing.exit_code == 1 and "no warehouse" in missing.output and "pgy refresh" in missing.output
    rebuilt = CliRunner().invoke(main, ["replay"])
    assert rebuilt.exit_code == 0, rebuilt.output
    with env.db() as conn:
        after = conn.execute("SELECT * EXCLUDE (last_fetch_id) FROM notes ORDER BY note_id").fetchall()
    assert after == before and env.sim.counters().calls_total == calls


def test_a_read_only_warehouse_fails_with_a_clear_error_and_nothing_is_lost(make_env: MakeEnv, monkeypatch):
    env = make_env(fixed_counts={"kol_a": 40})
    env.refresh(["kol_a"])
    wh = Warehouse(env.data_dir)
    real_access = os.access
    # Tests run as root, which ignores file modes: pretend the file is read-only.
    monkeypatch.setattr(
        os,
        "access",
        lambda p, m: False if str(p) == str(wh.working_path) and m == os.W_OK else real_access(p, m),
    )
    with pytest.raises(WarehouseError, match=r"warehouse\.duckdb is read-only"), wh.write():
        pass
    env.sim.update(fixed_counts={"kol_a": 41})
    env.sim.reset_counters()
    runs = env.refresh(["kol_a"])
    # The run stops before buying anything it could not store, and says why.
    assert not runs[0].success and "read-only" in runs[0].failure and "make it writable" in runs[0].failure
    assert env.sim.counters().calls_total == 0
    with env.db() as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 40  # the old rows are intact
    monkeypatch.setattr(os, "access", real_access)
    assert env.refresh(["kol_a"])[0].success
    with env.db() as conn:
        assert stored_frame(conn, "kol_a") == expected_frame(env.sim, "kol_a")


def test_pgy_help_documents_every_command():
    out = subprocess.run(
        [str(Path(sys.executable).with_name("pgy")), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    for command in ("refresh", "kols", "query", "export", "simulator", "status", "replay", "demo", "ui"):
        assert command in out


def test_a_step_that_fails_on_its_own_error_names_that_error_not_dagsters_wrapper(
    make_env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(fixed_counts={"kol_a": 3})

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    # The module, not the asset its package exports under the same name.
    monkeypatch.setattr(
        importlib.import_module("pgy_pipeline.defs.assets.kol_notes"), "prepare_warehouse", disk_full
    )
    runs = env.refresh(["kol_a"])

    assert not runs[0].success
    assert runs[0].failure == "OSError: [Errno 28] No space left on device", runs[0].failure
