"""What one write did, per KOL: the figures each KOL's materialisation metadata shows."""

from __future__ import annotations

import duckdb

from pgy_pipeline.justoneapi import FetchResult, NotesQuery
from pgy_pipeline.refresh.outcomes import ok_outcome, summarize
from pgy_pipeline.warehouse.migrations import migrate
from pgy_pipeline.warehouse.writes import write_fetches
from pgy_pipeline_tests.warehouse.lab import Lab, note, pages_of

A, B = "kol_a", "kol_b"


def test_revived_notes_and_unreadable_dates_are_counted_for_the_kol_they_belong_to(tmp_path):
    lab = Lab(tmp_path)
    a_notes = [note(f"a{i:023x}") for i in range(4)]
    lab.fetch(A, pages_of(a_notes))
    lab.fetch(A, pages_of(a_notes[1:]))
    lab.fetch(A, pages_of(a_notes[1:]))  # two complete fetches without a0: a0 is marked gone
    assert len(lab.gone(A)) == 1
    b_notes = [note(f"b{i:023x}", date="2026/02/01" if i < 2 else "2026-02-01") for i in range(3)]
    rows = [lab.fetch(A, pages_of(a_notes), write=False), lab.fetch(B, pages_of(b_notes), write=False)]
    stats = lab.write(rows)  # one batch, two KOLs: a0 is listed again, two of B's dates do not parse

    assert stats.revived_by_user == {A: 1} and stats.revived == 1
    assert stats.dates_unreadable_by_user == {B: 2} and stats.dates_unreadable == 2

    outcomes = [ok_outcome(u, None, _result(u), stats, windowed=False) for u in (A, B)]
    assert [(o.notes_revived, o.dates_unreadable) for o in outcomes] == [(1, 0), (0, 2)]
    totals = summarize(outcomes)
    assert (totals.notes_revived, totals.dates_unreadable) == (1, 2)


def _result(user_id: str) -> FetchResult:
    return FetchResult(
        query=NotesQuery(user_id),
        pages=(),
        notes=(),
        total=0,
        calls=1,
        pages_fetched=1,
        pages_reused=0,
        codes={0: 1},
        http_statuses={200: 1},
        retries=0,
        duplicates_dropped=0,
        stop_reason="total_reached",
        complete=True,
    )


def test_writing_no_fetch_writes_nothing_and_counts_nothing() -> None:
    conn = duckdb.connect()
    migrate(conn)

    stats = write_fetches(conn, [], [], None)

    assert (stats.fetches, stats.notes_upserted, stats.snapshots, stats.marked_gone, stats.calls) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert conn.execute("SELECT count(*) FROM fetches").fetchone() == (0,)
