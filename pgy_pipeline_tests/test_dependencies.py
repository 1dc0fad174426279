"""Every package pgy_pipeline imports directly is declared in pyproject.toml's [project].dependencies.

A package that is only in the lock through another (pydantic through Dagster, urllib3 through
requests) disappears the day that other stops needing it; declared, it cannot.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Used without an import statement of ours: the package, and the code that needs it.
CALLED_INDIRECTLY = {"tabulate": "to_markdown("}  # pandas imports it inside DataFrame.to_markdown


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_norm(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in project["dependencies"]}


def imported_modules() -> dict[str, str]:
    """Top-level third-party module -> a file that imports it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "pgy_pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "pgy_pipeline":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_direct_import_is_a_declared_dependency() -> None:
    dists = importlib.metadata.packages_distributions()
    modules = imported_modules()
    assert {"dagster", "duckdb", "pydantic", "urllib3"} <= set(modules)  # the walk sees imports
    undeclared = {
        f"{module} ({where}) from {dists.get(module)}"
        for module, where in modules.items()
        if not {_norm(d) for d in dists.get(module, [module])} & declared()
    }
    assert not undeclared, f"imported but not in [project].dependencies: {sorted(undeclared)}"


def test_packages_used_without_an_import_are_declared_and_still_used() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "pgy_pipeline").rglob("*.py"))
    for package, use in CALLED_INDIRECTLY.items():
        assert _norm(package) in declared()
        assert use in code, f"{package} is declared for {use!r}, which the code no longer calls"


def test_only_one_module_uses_dagsters_private_modules() -> None:
    users = set()
    for path in (ROOT / "pgy_pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.startswith("dagster._") for n in names):
                users.add(str(path.relative_to(ROOT)))
    assert users == {"pgy_pipeline/defs/dagster_private.py"}
