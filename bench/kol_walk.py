"""Which files one KOL id passes through on its way from the refresh asset to the HTTP call.

Refreshes one KOL against the simulator and records the call stack at each thread hand-off and at
the first HTTP request; prints the package's files on the chain, in order. Issue 17 asks that a
newcomer following a KOL id enters few files; this says how many, so a change can be compared.

    python -m bench.kol_walk
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import tempfile
import traceback
from pathlib import Path
from typing import Any

import dagster as dg
import requests

from pgy_pipeline.simulator import Simulator
from pgy_pipeline_tests.support import ANCHOR, PipelineEnv

PACKAGE = "/pgy_pipeline/"


def _ours(stack: list[traceback.FrameSummary]) -> list[str]:
    return [f.filename.split(PACKAGE)[-1] for f in stack if PACKAGE in f.filename]


def walk() -> list[str]:
    """The package's files from the asset to the HTTP call, each once, in the order entered."""
    submits: list[list[str]] = []
    http: list[list[str]] = []
    submit, get = cf.ThreadPoolExecutor.submit, requests.Session.get

    def spy_submit(self: cf.ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        submits.append(_ours(traceback.extract_stack()))
        return submit(self, fn, *args, **kwargs)

    def spy_get(self: requests.Session, *args: Any, **kwargs: Any) -> Any:
        http.append(_ours(traceback.extract_stack()))
        return get(self, *args, **kwargs)

    cf.ThreadPoolExecutor.submit = spy_submit  # type: ignore[method-assign,assignment]
    requests.Session.get = spy_get  # type: ignore[method-assign]
    try:
        with Simulator("clean", seed=7, anchor_date=ANCHOR) as sim, tempfile.TemporaryDirectory() as d:
            os.environ.setdefault("DAGSTER_HOME", d)
            data = Path(d) / "data"
            data.mkdir()
            env = PipelineEnv(sim, data, dg.DagsterInstance.ephemeral())
            env.add_kols(["kol_a"])
            env.refresh(["kol_a"])
    finally:
        cf.ThreadPoolExecutor.submit, requests.Session.get = submit, get  # type: ignore[method-assign]
    # The chain is the stack that submits the KOL's worker, then each later hand-off, then the call.
    asset = next(s for s in submits if any("defs/assets/" in f for f in s))
    chain = asset + [f for s in submits if s is not asset for f in s] + http[0]
    start = next(i for i, f in enumerate(chain) if f.startswith("defs/assets/"))
    return list(dict.fromkeys(chain[start:]))


def main() -> None:
    files = walk()
    for f in files:
        print(f"  {f}")
    print(f"{len(files)} files from the refresh asset to the HTTP call")


if __name__ == "__main__":
    main()
