"""Which KOLs of a run still owe Dagster a "materialisation planned" event if the step fails.

The refresh job's runs defer those events (defs/dagster_private.py, DEFER_ASSET_EVENTS_TAG); a
partition shows FAILED only when its planned event has no materialisation after it. So the step
writes them itself, on failure, for the KOLs that owe one: every KOL of the run, less those whose
partitions already say what happened (materialised, answered no content) or must keep their
status (deferred to tomorrow's budget, skipped as fetched recently, or all of them when the run
was interrupted: a canceled run marks no partition failed). No Dagster here: tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from pgy_pipeline.refresh.outcomes import KolOutcome, KolStatus


class OwedPlannedEvents:
    """The KOLs of a run, in the run's order, less those ``settle``d."""

    def __init__(self, user_ids: Iterable[str]) -> None:
        self._owed = dict.fromkeys(user_ids)

    def settle(self, user_id: str) -> None:
        """``user_id``'s partitions need no planned event (unknown ids are ignored)."""
        self._owed.pop(user_id, None)

    def settle_all(self) -> None:
        self._owed.clear()

    def owed(self) -> list[str]:
        return list(self._owed)


def settles(o: KolOutcome) -> bool:
    """Whether ``o``'s partitions need no planned event: they say what happened (materialised,
    no content) or keep their status (deferred, skipped). A failed or interrupted KOL owes one."""
    return o.status in (KolStatus.OK, KolStatus.NO_CONTENT, KolStatus.DEFERRED, KolStatus.SKIPPED)
