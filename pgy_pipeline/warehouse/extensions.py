"""DuckDB extensions from the project's own lock file, loaded from the installed packages.

The DuckLake backend needs four extensions (ducklake; postgres_scanner and sqlite_scanner for
the catalog; httpfs for an S3 data path). DuckDB would download them from its repository on
first use; a run worker must never fetch code at run time, so they come as Python packages
(``duckdb-extension-<name>``) pinned in ``uv.lock`` and are loaded from their files with
``LOAD '<file>'``. An extension only loads into the DuckDB version it was built for: the
packages keep it in the directory name (``extensions/v1.5.5/``), so a mismatch is reported
with both versions before DuckDB refuses with a less helpful message.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

# Connections that may load our extensions never install or autoload anything by themselves.
NO_AUTOLOAD: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}

# Extension name -> the Python package that ships it.
PACKAGES = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "httpfs": "duckdb_extension_httpfs",
}


class ExtensionError(RuntimeError):
    """An extension the backend needs is missing or was built for another DuckDB."""


def extension_file(name: str) -> Path:
    """The ``.duckdb_extension`` file of ``name`` for the DuckDB in use, or ExtensionError."""
    package = PACKAGES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ExtensionError(
            f"the DuckDB extension {name} is not installed (package {package.replace('_', '-')}); "
            f"run `make install` (it comes with the lock file, never downloaded at run time)"
        )
    root = Path(spec.origin).parent / "extensions"
    want = f"v{duckdb.__version__}"
    found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    path = root / want / f"{name}.duckdb_extension"
    if not path.exists():
        built = ", ".join(found) or "none"
        raise ExtensionError(
            f"the DuckDB extension {name} was built for DuckDB {built}, but DuckDB {want} is installed; "
            f"install the versions pinned together in uv.lock (`make install`)"
        )
    return path
