"""The refresh core: fetch -> raw layer -> warehouse, with outcomes people act on. No Dagster."""

from pgy_pipeline.refresh.engine import Refresher
from pgy_pipeline.refresh.outcomes import ErrorKind, KolOutcome, KolStatus, RunTotals, error_kind, summarize

__all__ = ["ErrorKind", "KolOutcome", "KolStatus", "Refresher", "RunTotals", "error_kind", "summarize"]
