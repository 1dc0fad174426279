"""The ``pgy`` command line. ``pgy --help`` documents every command."""

from pgy_pipeline.cli import brands, kols, plan, prices, query, refresh, report, serve, status, warehouse  # noqa: F401  (they register their commands)
from pgy_pipeline.cli.app import main

__all__ = ["main", "run"]


def run() -> None:
    """The ``pgy`` executable: the command group, then a quick exit (see heap.py)."""
    from pgy_pipeline.cli import heap

    try:
        main()
    finally:
        heap.exiting()


if __name__ == "__main__":  # pragma: no cover
    run()
