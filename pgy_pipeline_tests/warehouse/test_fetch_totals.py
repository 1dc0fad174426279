"""Each fetch's totals (fetch_totals) are its stored snapshots summed, written in the same
transaction: the report's history reads them instead of every snapshot of the year."""

from __future__ import annotations

import json

from pgy_pipeline.warehouse.raw import RawPage
from pgy_pipeline_tests.warehouse.lab import Lab, note, pages_of

SUMS = (
    "SELECT fetch_id, count(*), sum(read_num), sum(like_num + collect_num) "
    "FROM note_snapshots GROUP BY fetch_id ORDER BY fetch_id"
)
TOTALS = "SELECT fetch_id, notes, reads, like_collect FROM fetch_totals ORDER BY fetch_id"


def test_each_fetch_s_totals_are_its_snapshots_summed(tmp_path) -> None:
    lab = Lab(tmp_path)
    lab.fetch("a", pages_of([note(i, reads=i * 10, likes=i, collects=1) for i in range(12)]))
    # Unreadable and null metrics are stored as NULL and left out of the sums, as SUM does.
    lab.fetch("a", pages_of([note(1, reads=None), note(2, likes="x"), note(3, collects=None), note(4)]))
    lab.fetch("b", pages_of([note(f"b{i}", reads=None) for i in range(3)]), third_platform=True)
    lab.fetch("b", [], status="failed")  # listed nothing: no snapshot, no totals
    again = lab.fetch("b", pages_of([note(f"b{i}") for i in range(5)]))
    lab.rewrite("b", again.fetch_id)  # written twice (a replay): counted once

    totals = lab.query(TOTALS)
    assert totals == lab.query(SUMS) and len(totals) == 4
    assert (None, 3) in {(reads, notes) for _, notes, reads, _ in totals}  # every read_num NULL


def test_a_fetch_whose_snapshots_grow_gets_its_totals_again(tmp_path) -> None:
    # A fetch written incomplete and later with more pages (resumed under the same fetch id):
    # its totals are summed again from everything stored for it.
    lab = Lab(tmp_path)
    row = lab.fetch("a", [[note(1), note(2)]], status="incomplete", stop_reason="page_cap")
    before = lab.query(TOTALS)
    body = json.dumps({"code": 0, "message": "success", "data": {"list": [note(3, reads=7)], "total": 3}})
    at = lab.tick().isoformat()
    lab.raw.append(
        RawPage(
            row.fetch_id, "a", 2, {"userId": "a", "pageNumber": 2}, at, "run", 200, 0, "r", None, 1, 0.1, body
        )
    )
    lab.rewrite("a", row.fetch_id)

    assert before == [(row.fetch_id, 2, 200, 30)]
    assert lab.query(TOTALS) == lab.query(SUMS) == [(row.fetch_id, 3, 207, 45)]
