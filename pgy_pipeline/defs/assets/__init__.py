"""Dagster assets: thin functions over the core (refresh, warehouse)."""

from pgy_pipeline.defs.assets.engagement import kol_engagement, note_engagement
from pgy_pipeline.defs.assets.kol_notes import FetchConfig, kol_notes
from pgy_pipeline.defs.assets.report import kol_report

__all__ = ["FetchConfig", "kol_engagement", "kol_notes", "kol_report", "note_engagement"]
