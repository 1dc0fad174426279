"""How the refresh step ends after SIGINT/SIGTERM or Dagster's "Terminate": canceled, and saying why.

The refresh core has written what was complete (refresh/engine.py). The run then ends CANCELED,
not FAILED: a stop a person or a supervisor asked for is nobody's failure, so no alert is sent,
and Dagster shows no partition of a canceled run as failed. Each KOL's partition keeps the status
of its last materialisation, which is still the truth of the warehouse for the KOLs not finished:
their new pages wait in the raw layer for the next run.
"""

from __future__ import annotations

from typing import NoReturn

import dagster as dg

from pgy_pipeline.defs.tags import interrupt_tags
from pgy_pipeline.refresh.outcomes import InterruptSummary

_ENDING = (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED)


def end_interrupted(context: dg.AssetExecutionContext, summary: InterruptSummary) -> NoReturn:
    """Tag the run with ``summary``, have it end canceled, and fail the step with the summary."""
    context.instance.add_run_tags(context.run_id, interrupt_tags(summary))
    run = context.instance.get_run_by_id(context.run_id)
    if run is not None and run.status not in _ENDING:
        # A signal from outside Dagster (Ctrl-C, systemd, Kubernetes): the run ends as a
        # Terminate from the UI would, canceled.
        context.instance.report_run_canceling(run, message=f"{summary.signal} received: stopping the run.")
    context.log.warning(summary.describe())
    raise dg.Failure(
        description=summary.describe(),
        metadata={
            "interrupted_by": summary.signal,
            "api_calls": summary.calls,
            "kols_written": summary.written,
            "kols_complete_not_written": summary.unwritten,
            "kols_partly_fetched": summary.partial,
            "kols_not_started": summary.not_started,
        },
        allow_retries=False,
    )
