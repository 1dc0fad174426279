"""The simulator in a separate process (`pgy simulator`), for crash tests and bench/.

A separate process does not share the pipeline's GIL, and survives when the pipeline
process is killed; its counters are read over HTTP (``COUNTERS_PATH``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import requests

from pgy_pipeline.simulator.server import CLOCK_PATH, COUNTERS_PATH, HOLD_PATH


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def simulator_process(
    profile: str = "clean", seed: int = 0, overrides: Mapping[str, Any] | None = None
) -> Iterator[str]:
    """Run `pgy simulator` on a free loopback port; yields its base URL, stops it on exit."""
    port = free_port()
    exe = Path(sys.executable).with_name("pgy")
    cmd = [str(exe), "simulator", "--port", str(port), "--profile", profile, "--seed", str(seed)]
    for key, value in (overrides or {}).items():
        cmd += ["--set", f"{key}={json.dumps(value)}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with requests.Session() as session:
                    session.get(url + COUNTERS_PATH, timeout=(1, 1))
                break
            except requests.ConnectionError:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"the simulator exited: {err[-2000:]}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError("the simulator did not start within 60 s") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def counters(url: str) -> dict[str, Any]:
    """The counters of a simulator process: calls_total, by_code, by_http_status, by_user_page, faults."""
    with requests.Session() as session:
        data: dict[str, Any] = session.get(url + COUNTERS_PATH, timeout=(2, 10)).json()
    return data


def set_as_of(url: str, day: date) -> None:
    """Move the clock of a simulator process to ``day`` (calls already in flight keep theirs)."""
    with requests.Session() as session:
        session.post(url + CLOCK_PATH, params={"as_of": day.isoformat()}, timeout=(2, 10)).raise_for_status()


def hold_after(url: str, calls: int | None) -> None:
    """Hold every call of a simulator process after its ``calls``-th (None: answer them all again)."""
    query = {} if calls is None else {"after": str(calls)}
    with requests.Session() as session:
        session.post(url + HOLD_PATH, params=query, timeout=(2, 10)).raise_for_status()


def wait_for_calls(url: str, calls: int, proc: subprocess.Popen[Any], timeout_s: float = 120) -> int:
    """Wait until the simulator has served ``calls`` more calls than now, or ``proc`` has exited.

    For killing a process "in the middle of fetching and writing" on evidence, not after a guessed
    number of seconds that a slow machine spends still starting up. Returns the calls served since.
    """
    start = int(counters(url)["calls_total"])
    deadline = time.monotonic() + timeout_s
    while True:
        served = int(counters(url)["calls_total"]) - start
        if served >= calls or proc.poll() is not None:
            return served
        if time.monotonic() > deadline:
            raise TimeoutError(f"{served} of {calls} calls served within {timeout_s:.0f} s")
        time.sleep(0.02)
