"""The pure parts of the refresh asset, without Dagster running: which KOLs owe a planned event,
and what a KOL's partitions say for each outcome (defs/assets/owed_events.py, materialisations.py)."""

from __future__ import annotations

import dagster as dg

from pgy_pipeline.defs.assets.materialisations import RunFacts, materialisations
from pgy_pipeline.defs.assets.owed_events import OwedPlannedEvents, settles
from pgy_pipeline.defs.keys import NOTE_PAGES, NOTES
from pgy_pipeline.refresh import KolOutcome, KolStatus

RUN = RunFacts(labels={"u1": "Alice"}, source_id="sim", filters={"orderType": "1"}, unfiltered=True)


def test_every_kol_owes_a_planned_event_until_settled_in_the_runs_order() -> None:
    owed = OwedPlannedEvents(["u3", "u1", "u2"])
    assert owed.owed() == ["u3", "u1", "u2"]
    owed.settle("u1")
    owed.settle("not-of-this-run")
    assert owed.owed() == ["u3", "u2"]


def test_settle_all_leaves_nothing_owed() -> None:
    owed = OwedPlannedEvents(["u1", "u2"])
    owed.settle_all()
    assert owed.owed() == []


def test_failed_and_interrupted_kols_owe_their_planned_event_the_others_settle() -> None:
    owing = {s for s in KolStatus if not settles(KolOutcome("u1", s))}
    assert owing == {KolStatus.FAILED, KolStatus.STOPPED, KolStatus.INTERRUPTED}


def test_an_ok_kol_materialises_both_assets_with_what_its_fetch_did() -> None:
    o = KolOutcome("u1", KolStatus.OK, fetch_id="f1", pages=3, calls=3, notes=57, notes_new=5, marked_gone=1)
    pages, notes = materialisations(o, RUN, "data/raw/u1/f1.jsonl")
    assert (pages.asset_key, pages.partition, notes.asset_key, notes.partition) == (
        NOTE_PAGES,
        "u1",
        NOTES,
        "u1",
    )
    assert pages.metadata["label"] == dg.TextMetadataValue("Alice")
    assert pages.metadata["api_calls"] == dg.IntMetadataValue(3)
    assert pages.metadata["raw_file"] == dg.MetadataValue.path("data/raw/u1/f1.jsonl")
    assert notes.metadata["dagster/row_count"] == dg.IntMetadataValue(57)
    assert notes.metadata["marked_gone"] == dg.IntMetadataValue(1)
    assert notes.metadata["fetch_kind"] == dg.TextMetadataValue("full")
    assert notes.metadata["full_fetch"] == dg.BoolMetadataValue(True)


def test_an_incremental_or_filtered_fetch_is_not_a_full_fetch() -> None:
    o = KolOutcome("u1", KolStatus.OK, fetch_id="f1", incremental=True)
    notes = materialisations(o, RUN, "x")[1]
    assert notes.metadata["fetch_kind"] == dg.TextMetadataValue("incremental")
    assert notes.metadata["full_fetch"] == dg.BoolMetadataValue(False)
    filtered = RunFacts(labels={}, source_id="sim", filters={}, unfiltered=False)
    full = KolOutcome("u1", KolStatus.OK, fetch_id="f1")
    assert materialisations(full, filtered, "x")[1].metadata["full_fetch"] == dg.BoolMetadataValue(False)


def test_no_content_bought_now_says_so_on_both_partitions_known_before_says_nothing() -> None:
    bought = KolOutcome("u1", KolStatus.NO_CONTENT, fetch_id="f1", calls=1, message="no notes")
    events = materialisations(bought, RUN, None)
    assert [e.asset_key for e in events] == [NOTE_PAGES, NOTES]
    assert all(e.metadata["no_content"] == dg.BoolMetadataValue(True) for e in events)
    assert materialisations(KolOutcome("u1", KolStatus.NO_CONTENT), RUN, None) == []


def test_kols_that_keep_their_partitions_status_materialise_nothing() -> None:
    for status in (KolStatus.DEFERRED, KolStatus.SKIPPED, KolStatus.INTERRUPTED, KolStatus.FAILED):
        assert materialisations(KolOutcome("u1", status, fetch_id="f1"), RUN, "x") == []
