"""Every module of pgy_pipeline imports on its own, first, in an interpreter of its own.

An import cycle hides when the test run happens to import the modules in a kind order (issue 17:
defs/checks.py -> defs/assets/metadata.py -> defs/assets/__init__ -> kol_notes.py -> checks.py
failed only when checks.py came first). So each module is imported in a process where no module
of pgy_pipeline has been imported yet.

Starting a Python per module costs ~2 s for the ones that load Dagster (~60 of them): too slow
for a test. So one parent process loads the third-party libraries only (dagster, duckdb, pandas,
...: none of them can take part in a cycle of ours), checks that no pgy_pipeline module is in it,
and forks one child per module: each child is its own interpreter process whose first import of
pgy_pipeline is the module under test, and whose sys.modules dies with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pgy_pipeline

# The parent: warm the third-party imports, then fork a child per module named on stdin.
_FORKER = textwrap.dedent(
    """
    import importlib, os, sys, traceback
    for lib in ("dagster", "duckdb", "pandas", "httpx", "pydantic", "jinja2", "plotly", "typer",
                "sqlalchemy", "yaml", "requests", "urllib3"):
        try:
            importlib.import_module(lib)
        except ImportError:
            pass
    mine = [m for m in sys.modules if m == "pgy_pipeline" or m.startswith("pgy_pipeline.")]
    assert not mine, f"the forker imported {mine}"
    failed = 0
    for name in sys.stdin.read().split():
        sys.stdout.flush(); sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                importlib.import_module(name)
            except BaseException:
                sys.stderr.write(f"--- import {name} on its own failed:\\n{traceback.format_exc()}")
                sys.stderr.flush()
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            failed += 1
            print(name)
    sys.exit(1 if failed else 0)
    """
)


def all_modules() -> list[str]:
    """Read from the files, not by importing (pkgutil.walk_packages imports each package)."""
    root = Path(pgy_pipeline.__file__).parent
    names = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def test_the_walk_finds_every_module() -> None:
    names = all_modules()
    # A few from each layer, so a broken walk cannot pass the test below by finding nothing.
    for name in (
        "pgy_pipeline.defs.checks",
        "pgy_pipeline.defs.assets.kol_notes",
        "pgy_pipeline.refresh.engine",
        "pgy_pipeline.justoneapi.client",
        "pgy_pipeline.warehouse.db",
        "pgy_pipeline.cli.app",
    ):
        assert name in names
    assert len(names) > 100


def test_every_module_imports_on_its_own_in_a_fresh_process() -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _FORKER],
        input="\n".join(all_modules()),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, f"modules that fail to import first:\n{done.stdout}\n{done.stderr[-6000:]}"
