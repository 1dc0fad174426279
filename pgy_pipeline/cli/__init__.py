"""The ``pgy`` command line. ``pgy --help`` documents every command."""

from pgy_pipeline.cli import kols, plan, prices, query, refresh, report, serve, status  # noqa: F401  (they register their commands)
from pgy_pipeline.cli.app import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    main()
