"""`pgy refresh` says what failed and what to do in a few lines; `pgy -v` adds the full log.

A real `pgy refresh` process against a simulator process that has revoked the token (code
100), with the token in the environment as in production.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from pgy_pipeline.cli import run
from pgy_pipeline.warehouse import transaction
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.simulator_process import simulator_process
from pgy_pipeline_tests.support import instance_at

REPO = Path(__file__).resolve().parents[2]
PGY = str(Path(sys.executable).with_name("pgy"))
TOKEN = "tok-REVOKED-5e1c0b77"
KOLS = "user_id,label\n5c9f00000000000000000001,厨房小白\n5c9f00000000000000000002,\n"


def _refresh(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run([PGY, *args], env=env, cwd=REPO, capture_output=True, timeout=120)
    return done.returncode, (done.stdout + done.stderr).decode("utf-8", errors="replace")


@pytest.mark.timeout(240)
def test_a_revoked_token_is_reported_in_a_few_lines_and_the_trace_only_with_verbose(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "kols.csv").write_text(KOLS, encoding="utf-8")
    with simulator_process("clean", 1, {"revoked_tokens": [TOKEN]}) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUSTONEAPI_", "PGY_"))}
        env |= {
            "JUSTONEAPI_TOKEN": TOKEN,
            "JUSTONEAPI_BASE_URL": url,
            "PGY_DATA_DIR": str(data),
            "DAGSTER_HOME": str(tmp_path / "home"),
        }
        code, out = _refresh(["refresh"], env)
        code_v, out_v = _refresh(["-v", "refresh"], env)
    assert code == code_v == 1
    lines = out.strip().splitlines()
    assert len(lines) <= 5, out
    assert "set JUSTONEAPI_TOKEN to a valid token" in out
    assert "FAILED" in out and "pgy -v refresh" in out
    for noise in ("Traceback", "Stack Trace", "STEP_FAILURE", "dagster._core"):
        assert noise not in out, out
    # -v: Dagster's log of the run, the step failure with its stack trace.
    assert "Stack Trace" in out_v and "STEP_FAILURE" in out_v
    assert "set JUSTONEAPI_TOKEN to a valid token" in out_v
    assert TOKEN not in out and TOKEN not in out_v

    # The trace is kept in the run's event log either way.
    with instance_at(tmp_path / "home") as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="refresh_kols"))
        assert len(runs) == 2
        for run in runs:
            records = instance.get_records_for_run(run.run_id).records
            failures = [
                r.event_log_entry.dagster_event
                for r in records
                if r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.is_step_failure
            ]
            (failure,) = failures
            error = failure.step_failure_data.error
            assert error is not None and error.stack and "kol_notes" in "".join(error.stack)


def _disk_full(conn: object, timeout_s: float = 0.0) -> None:
    raise sqlite3.OperationalError("disk I/O error")  # what SQLite said on the full tmpfs


def test_a_command_on_a_full_disk_says_so_in_one_line_and_the_trace_only_with_verbose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PGY_DATA_DIR", str(tmp_path))
    # A data dir whose state was written before the disk filled.
    PipelineState(tmp_path).claim_source("simulator", holds_data=False, simulated=True)
    monkeypatch.setattr(transaction, "_SET_UP", set())  # as in a new `pgy` process
    monkeypatch.setattr(transaction, "_use_wal", _disk_full)
    monkeypatch.setattr(
        shutil, "disk_usage", lambda path: SimpleNamespace(total=6 << 20, used=6 << 20, free=0)
    )
    monkeypatch.setattr(sys, "argv", ["pgy", "status"])
    with pytest.raises(SystemExit) as exit_:
        run()
    err = capsys.readouterr().err

    assert exit_.value.code == 1 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: OperationalError: disk I/O error; the disk of "), err
    assert f"{tmp_path} is full (0 KiB free)" in last
    monkeypatch.setattr(sys, "argv", ["pgy", "-v", "status"])
    with pytest.raises(sqlite3.OperationalError):  # -v: the trace, as any other error
        run()
