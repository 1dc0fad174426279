"""What a KOL's partitions say once its outcome is known: a pure function of the outcome.

No Dagster context here: the step logs what this returns (defs/assets/refresh_steps.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from pgy_pipeline.defs.keys import NOTE_PAGES, NOTES
from pgy_pipeline.defs.metadata import no_content_metadata
from pgy_pipeline.refresh import KolOutcome, KolStatus


@dataclass(frozen=True)
class RunFacts:
    """What every materialisation of one run shares."""

    labels: dict[str, str | None]
    source_id: str
    filters: dict[str, str]
    unfiltered: bool  # the vendor's default filters: a full fetch may mark notes gone


def materialisations(o: KolOutcome, run: RunFacts, raw_file: str | None) -> list[dg.AssetMaterialization]:
    """The materialisations of ``o`` for note_pages and notes; none when its partitions keep their
    status (deferred, skipped, interrupted, failed). ``raw_file``: where its pages are kept."""
    label = run.labels.get(o.user_id) or ""
    if o.status == KolStatus.NO_CONTENT:
        if o.fetch_id is None:  # known to have none from an earlier run: nothing bought now
            return []
        md = {"label": label, **no_content_metadata(o)}
        return [dg.AssetMaterialization(k, partition=o.user_id, metadata=md) for k in (NOTE_PAGES, NOTES)]
    if o.status != KolStatus.OK:
        return []
    kol = {"label": label, "source": run.source_id}
    return [
        dg.AssetMaterialization(
            NOTE_PAGES, partition=o.user_id, metadata={**kol, **_pages(o, run, raw_file)}
        ),
        dg.AssetMaterialization(NOTES, partition=o.user_id, metadata={**kol, **_notes(o, run)}),
    ]


def _pages(o: KolOutcome, run: RunFacts, raw_file: str | None) -> dict[str, Any]:
    return {
        "pages": o.pages,
        "pages_reused": o.pages_reused,
        "api_calls": o.calls,
        "retries": o.retries,
        "codes": o.codes and {str(k): v for k, v in o.codes.items()},
        "reported_total": o.reported_total,
        "stop_reason": o.stop_reason,
        "fetch_id": o.fetch_id,
        "raw_file": dg.MetadataValue.path(raw_file or ""),
        "filters": run.filters,
    }


def _notes(o: KolOutcome, run: RunFacts) -> dict[str, Any]:
    return {
        "dagster/row_count": o.notes,
        "notes": o.notes,
        "notes_new": o.notes_new,
        "marked_gone": o.marked_gone,
        "notes_revived": o.notes_revived,
        "null_metrics": o.null_metrics,
        "dates_unreadable": o.dates_unreadable,
        "duplicates_dropped": o.duplicates_dropped,
        "complete": o.complete,
        "full_fetch": run.unfiltered and not o.incremental,
        "fetch_kind": "incremental" if o.incremental else "full",
        "duration_s": round(o.duration_s, 2),
    }
