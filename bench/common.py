"""Shared pieces of the benchmarks: the simulator in its own process, machine facts, RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
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


PGY = str(Path(sys.executable).with_name("pgy"))
WARMUP_KOL = "warmup0"  # a one-off KOL off the roster: it leaves no partition


def pgy_env(url: str, data: Path, rate: float) -> dict[str, str]:
    """The environment `pgy` runs in for a benchmark: this simulator, this data dir, no token."""
    return {k: v for k, v in os.environ.items() if k != "JUSTONEAPI_TOKEN"} | {
        "JUSTONEAPI_BASE_URL": url,
        "PGY_DATA_DIR": str(data),
        "DAGSTER_HOME": str(data / "dagster_home"),
        "PGY_RATE_LIMIT_PER_S": f"{rate:g}",
    }


def warm_up(env: dict[str, str]) -> None:
    """Refresh the one-off warm-up KOL, as a new user has run `make run` before: the instance and
    the warehouse exist. Exits the benchmark with the command's output if it fails."""
    warm = subprocess.run([PGY, "refresh", WARMUP_KOL], env=env, capture_output=True, text=True)
    if warm.returncode != 0:
        sys.exit(f"the warm-up refresh failed:\n{warm.stdout[-2000:]}{warm.stderr[-2000:]}")
