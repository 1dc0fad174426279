"""The asset keys that more than one module of defs/ names: named once, here, below them all."""

import dagster as dg

NOTE_PAGES = dg.AssetKey("note_pages")  # the raw layer: every page as the API returned it
NOTES = dg.AssetKey("notes")  # the DuckDB table
