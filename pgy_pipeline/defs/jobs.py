"""Jobs: the KOL refresh (what the schedule, sensors and `pgy refresh` run) and the derived tables."""

from __future__ import annotations

import dagster as dg

from pgy_pipeline.defs.assets import kol_engagement, kol_report, note_engagement
from pgy_pipeline.defs.assets.kol_notes import DEFER_ASSET_EVENTS_TAG, NOTE_PAGES, NOTES
from pgy_pipeline.defs.partitions import kol_partitions

REFRESH_JOB_NAME = "refresh_kols"
ENGAGEMENT_JOB_NAME = "refresh_engagement"

refresh_job = dg.define_asset_job(
    REFRESH_JOB_NAME,
    selection=dg.AssetSelection.assets(NOTE_PAGES, NOTES).without_checks(),
    partitions_def=kol_partitions,
    description=(
        "Fetch every page of the selected KOL partitions, keep the raw pages and upsert `notes` and "
        "`note_snapshots`. Run it for a range of KOLs (a single-run backfill) to refresh many at once."
    ),
    # The step logs each KOL's events itself, the planned ones only for KOLs that failed
    # (defs/assets/kol_notes.py): the run starts calling the API in seconds at any roster size.
    tags={"pgy/job": "refresh", DEFER_ASSET_EVENTS_TAG: "true"},
)

engagement_job = dg.define_asset_job(
    ENGAGEMENT_JOB_NAME,
    selection=dg.AssetSelection.assets(note_engagement, kol_engagement, kol_report)
    | dg.AssetSelection.checks_for_assets(NOTES),
    description=(
        "Recompute note_engagement and kol_engagement in DuckDB, rewrite the HTML report, and run the "
        "data checks on notes."
    ),
)
