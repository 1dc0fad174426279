"""Shared pieces of the benchmarks: the simulator in its own process, machine facts, RESULTS.md."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import requests

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"
OUT = BENCH_DIR / "out"


def machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def simulator_process(profile: str, seed: int = 0) -> Iterator[str]:
    """`pgy simulator` in a separate process (so it does not share our GIL); yields its base URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("pgy")
    proc = subprocess.Popen(
        [str(exe), "simulator", "--port", str(port), "--profile", profile, "--seed", str(seed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/__simulator/counters", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def sim_counters(url: str) -> dict:
    return requests.get(f"{url}/__simulator/counters", timeout=10).json()


def line(name: str, value: str, target: str, ok: bool | None) -> str:
    verdict = "" if ok is None else ("  OK" if ok else "  MISSED")
    return f"{name:<58} {value:>16}   target {target}{verdict}"


def record(title: str, lines: list[str], notes: str = "") -> None:
    """Print the figures and append them to bench/RESULTS.md with date and machine."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [f"\n## {title} ({stamp})", "", f"Machine: {machine()}", "", "```", *lines, "```"]
    if notes:
        block += ["", notes]
    text = "\n".join(block) + "\n"
    print(text)
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nAppended by `make bench` (bench/run_all.py); newest last.\n"
        )
    with open(RESULTS, "a", encoding="utf-8") as fh:
        fh.write(text)
