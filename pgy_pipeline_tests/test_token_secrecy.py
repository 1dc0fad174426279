"""The token is a secret: after runs through every failure path, it is nowhere on disk or in output.

Real processes (`pgy refresh`, `dagster`) against a simulator process, with the token in
the environment as in production; then every byte under the data directory and the
Dagster instance (event logs, run storage, compute logs, DuckDB, raw pages) and every
captured stdout/stderr is scanned.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from pgy_pipeline_tests.simulator_process import free_port, simulator_process, wait_for_calls
from pgy_pipeline_tests.support import TEST_TOKEN as TOKEN

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env(tmp_path: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUSTONEAPI_", "PGY_"))}
    return env | {
        "JUSTONEAPI_TOKEN": TOKEN,
        "JUSTONEAPI_BASE_URL": base_url,
        "PGY_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }


def _run(args: list[str], env: dict[str, str], outputs: list[bytes], timeout: float = 180) -> int:
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, timeout=timeout)
    outputs += [done.stdout, done.stderr]
    return done.returncode


@pytest.mark.timeout(300)
def test_the_token_appears_nowhere_after_every_failure_path(tmp_path):
    outputs: list[bytes] = []
    (tmp_path / "data").mkdir()
    users = ["ok_kol", "bad_params", "denied", "weird_code", "flaky", "broken"]
    (tmp_path / "data" / "kols.csv").write_text("user_id,label\n" + "\n".join(users) + "\n", encoding="utf-8")
    pgy = [str(BIN / "pgy"), "-v"]  # DEBUG logging: urllib3 prints request lines at that level
    faults = {
        "user_codes": {"bad_params": 400, "weird_code": 999, "flaky": 301, "broken": 500},
        "forbidden_users": ["denied"],
        "p_html_502": 0.1,
        "p_truncated": 0.1,
        "p_http_429": 0.05,
        "p_stall": 0.05,
        "stall_s": 0.5,
        "stall_drop_share": 1.0,  # a dropped connection, not a slow answer
        "rate_limit_per_s": None,
        "latency_s": 0.0,
    }
    with simulator_process("hostile", 3, faults) as url:
        env = _env(tmp_path, url)
        # Every per-KOL code, HTML 502s, truncated bodies, 429s, dropped connections.
        assert _run([*pgy, "refresh"], env, outputs) == 1
        # A crash in the middle of a run.
        proc = subprocess.Popen(
            [*pgy, "refresh"], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        wait_for_calls(url, 10, proc)  # killed while it fetches
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        outputs += [out, err]
        assert _run([*pgy, "status"], env, outputs) == 0
        assert _run([*pgy, "query", "SELECT * FROM fetches"], env, outputs) == 0
        assert (
            _run([str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"], env, outputs) == 0
        )
    with simulator_process("clean", 3, {"revoked_tokens": [TOKEN]}) as url:  # 100
        assert _run([*pgy, "refresh", "ok_kol", "--force"], _env(tmp_path, url), outputs) == 1
    with simulator_process("clean", 3, {"daily_quota": 1}) as url:  # 303
        assert _run([*pgy, "refresh", "ok_kol", "flaky", "--force"], _env(tmp_path, url), outputs) == 1
    with simulator_process("clean", 3, {"balance": 0}) as url:  # 601
        assert _run([*pgy, "refresh", "denied", "--force"], _env(tmp_path, url), outputs) == 1
    closed = f"http://127.0.0.1:{free_port()}"  # connection refused
    assert _run([*pgy, "refresh", "broken", "--force"], _env(tmp_path, closed), outputs) == 1

    needles = {TOKEN.encode(), urllib.parse.quote(TOKEN).encode(), TOKEN[4:].encode()}
    leaks = [
        str(path)
        for path in tmp_path.rglob("*")
        if path.is_file() and any(n in path.read_bytes() for n in needles)
    ]
    leaks += [f"process output #{i}" for i, out in enumerate(outputs) if any(n in out for n in needles)]
    assert leaks == []
    # The scan looked at real material: runs, events, raw pages and the database exist.
    files = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert "pgy.duckdb" in files and any(n.endswith(".jsonl") for n in files)
    assert any(n.endswith(".db") for n in files)  # Dagster's SQLite event and run storage
    assert any(b"code 999" in o or b"999" in o for o in outputs)
