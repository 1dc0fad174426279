"""The ``pgy`` command line. ``pgy --help`` documents every command."""

import shutil
import sqlite3
import sys

import click

from pgy_pipeline.cli import brands, kols, plan, prices, query, refresh, report, serve, status, warehouse  # noqa: F401  (they register their commands)
from pgy_pipeline.cli.app import main

__all__ = ["main", "run"]


def run() -> None:
    """The ``pgy`` executable: the command group, then a quick exit (see heap.py).

    An error of the storage a command needs (a full disk, a folder it may not write) is one line,
    not a trace, unless ``-v``: the person needs the error, the disk to look at, not the call stack.
    """
    from pgy_pipeline.cli import heap

    try:
        main()
    except (sqlite3.Error, OSError) as exc:
        if {"-v", "--verbose"} & set(sys.argv[1:2]):
            raise
        from pgy_pipeline.justoneapi.redaction import redact

        error = f"error: {type(exc).__name__}: {redact(str(exc))}{_disk_full_hint()}"
        click.echo(f"{error} (`pgy -v` prints the trace)", err=True)
        sys.exit(1)
    finally:
        heap.exiting()


def _disk_full_hint() -> str:
    """ "; the disk of DATA is full" when it is (SQLite says only "disk I/O error"), else ""."""
    from pgy_pipeline import settings

    try:
        data = settings.data_dir()
        free = shutil.disk_usage(data).free
    except (OSError, ValueError):
        return ""
    return f"; the disk of {data} is full ({free // 1024} KiB free)" if free < 1024 * 1024 else ""


if __name__ == "__main__":  # pragma: no cover
    run()
