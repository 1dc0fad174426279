"""A newcomer following one KOL id from the refresh asset to the HTTP call enters one file a layer
(issue 17): the Dagster shim, the refresh engine, the API client. Measured by bench/kol_walk.py."""

from __future__ import annotations

from bench.kol_walk import walk


def test_one_kol_id_passes_one_file_a_layer_from_the_asset_to_the_http_call() -> None:
    assert walk() == ["defs/assets/kol_notes.py", "refresh/engine.py", "justoneapi/client.py"]
