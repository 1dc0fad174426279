"""Shared pieces of the benchmarks: the simulator in its own process, machine facts, RESULTS.md."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from pgy_pipeline_tests.simulator_process import counters, simulator_process

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"
OUT = BENCH_DIR / "out"


def machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def sim_counters(url: str) -> dict:
    return counters(url)


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


__all__ = ["OUT", "RESULTS", "counters", "line", "machine", "record", "sim_counters", "simulator_process"]
