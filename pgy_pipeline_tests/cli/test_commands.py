"""The `pgy` commands analysts and operators use, on a refreshed warehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pytest
from click.testing import CliRunner

from pgy_pipeline.cli import main
from pgy_pipeline_tests.support import MakeEnv


def test_query_writes_every_format(refreshed, tmp_path):
    run = CliRunner().invoke
    table = run(main, ["query", "SELECT user_id, count(*) AS n FROM notes GROUP BY ALL ORDER BY user_id"])
    assert table.exit_code == 0 and table.output.split() == ["user_id", "n", "kol_a", "20", "kol_b", "9"]
    csv = run(main, ["query", "SELECT count(*) AS n FROM notes", "--format", "csv"])
    assert csv.output.split() == ["n", "29"]
    js = run(main, ["query", "SELECT count(*) AS n FROM notes", "--format", "json"])
    assert json.loads(js.output) == {"n": 29}
    out = tmp_path / "notes.parquet"
    pq = run(main, ["query", "SELECT * FROM notes", "--format", "parquet", "--output", str(out)])
    assert pq.exit_code == 0 and duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchone() == (29,)
    bad = run(main, ["query", "SELECT * FROM no_such_table"])
    assert bad.exit_code == 1 and "query failed" in bad.output and "no_such_table" in bad.output


def test_export_writes_the_tables(refreshed, tmp_path):
    result = CliRunner().invoke(main, ["export", "--format", "csv", "--output", str(tmp_path / "x")])
    assert result.exit_code == 0
    assert (tmp_path / "x" / "notes.csv").read_text().count("\n") == 30  # header + 29 rows
    assert (tmp_path / "x" / "api_calls.csv").exists()


def test_status_and_retry_say_what_is_waiting(make_env: MakeEnv, monkeypatch, tmp_path):
    env = make_env(fixed_counts={"kol_a": 9}, user_codes={"kol_a": 301})
    env.refresh(["kol_a"])
    monkeypatch.setenv("PGY_DATA_DIR", str(env.data_dir))
    status = CliRunner().invoke(main, ["status"])
    assert status.exit_code == 0
    # Four 301s: calls the vendor does not bill, so the spend is 0.
    assert "API calls today (Asia/Shanghai): 0 billed" in status.output
    assert "and 4 not billed" in status.output
    assert "kol_a: 1 failed attempt(s), retry code 301; next retry" in status.output
    assert "no quota stop" in status.output
    assert f"warehouse: {env.data_dir / 'pgy.duckdb'}" in status.output
    assert "KOLs on the roster: 1; refreshed in the last 24 h: 0; never refreshed: 1\n" in status.output


def test_status_says_how_fresh_the_roster_is(refreshed, monkeypatch):
    status = CliRunner().invoke(main, ["status"])
    assert status.exit_code == 0
    assert (
        "KOLs on the roster: 2; refreshed in the last 24 h: 2; never refreshed: 0; the stalest"
        in status.output
    )


def test_a_quota_stop_is_shown_and_can_be_cleared(make_env: MakeEnv, monkeypatch):
    env = make_env(fixed_counts={"kol_a": 30}, daily_quota=1)
    env.refresh(["kol_a"])
    monkeypatch.setenv("PGY_DATA_DIR", str(env.data_dir))
    shown = CliRunner().invoke(main, ["status"])
    assert "calls stopped until" in shown.output and "code 303" in shown.output
    cleared = CliRunner().invoke(main, ["status", "--clear-stop"])
    assert "quota stop cleared" in cleared.output and "no quota stop" in cleared.output


def test_kols_add_list_remove_keep_the_roster_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PGY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    run = CliRunner().invoke
    assert run(main, ["kols", "add", "kol_x", "--label", "小红"]).exit_code == 0
    assert run(main, ["kols", "add", "kol_x"]).exit_code == 1  # already there
    assert run(main, ["kols", "list"]).output == "kol_x\t小红\n"
    assert run(main, ["kols", "add", "kol_y", "--category", "美食"]).exit_code == 0
    assert run(main, ["kols", "add", "kol_z", "--category", "bad\x07"]).exit_code == 2
    assert run(main, ["kols", "list"]).output == "kol_x\t小红\nkol_y\t\t美食\n"
    assert (tmp_path / "kols.csv").read_text(
        encoding="utf-8"
    ) == "user_id,label,category\nkol_x,小红,\nkol_y,,美食\n"
    assert run(main, ["kols", "remove", "kol_y"]).exit_code == 0
    removed = run(main, ["kols", "remove", "kol_x"])
    assert removed.exit_code == 0 and "history are kept" in removed.output
    assert run(main, ["kols", "list"]).output == ""


def _modules_after(args: list[str], tmp_path) -> set[str]:
    """Which of dagster and pandas a fresh `pgy ARGS` process had imported when it finished."""
    (tmp_path / "kols.csv").write_text("user_id,label\nkol_a,A\n", encoding="utf-8")
    probe = (
        "import sys\n"
        "from pgy_pipeline.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES', *sorted({'dagster', 'pandas'} & set(sys.modules)), file=sys.stderr)\n"
    )
    env = {**os.environ, "PGY_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("MODULES"), done.stdout + done.stderr
    return set(last.split()[1:])


@pytest.mark.parametrize("args", [["kols", "list"], ["query", "SELECT 1"], ["status"], ["--help"]])
def test_commands_that_run_no_job_do_not_import_dagster(args, tmp_path):
    # Importing Dagster costs about a second (several without compiled bytecode): only the
    # commands that run a job or touch the instance may pay it.
    assert "dagster" not in _modules_after(args, tmp_path)


@pytest.mark.parametrize("args", [["kols", "list"], ["--help"]])
def test_commands_that_read_no_table_do_not_import_pandas(args, tmp_path):
    # pandas costs ~0.4 s to import; DuckDB imports it for a query with parameters, the
    # warehouse writes use it, and nothing else may.
    assert "pandas" not in _modules_after(args, tmp_path)


def test_a_table_shows_control_characters_as_escapes_and_csv_keeps_them(refreshed, tmp_path):
    # ESC[2J clears a terminal, ESC]0;...BEL retitles it, U+202E shows the rest reversed.
    sql = "SELECT chr(27) || '[2J' || chr(27) || ']0;pwned' || chr(7) || 'a' || chr(8238) || 'b' AS t"
    table = CliRunner().invoke(main, ["query", sql])
    assert table.exit_code == 0
    assert "\x1b" not in table.output and "\x07" not in table.output and "\u202e" not in table.output
    assert r"\x1b[2J\x1b]0;pwned\x07a\u202eb" in table.output
    out = tmp_path / "t.csv"
    assert CliRunner().invoke(main, ["query", sql, "--format", "csv", "--output", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == "t\n\x1b[2J\x1b]0;pwned\x07a\u202eb\n"  # data, verbatim
