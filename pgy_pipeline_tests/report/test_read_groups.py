"""The KOL pages' rows are read a group of KOLs at a time (memory follows the group, not the
roster: 10,000 KOLs of 60 notes held at once took 899 MiB, 316 MiB in groups of 500)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from pgy_pipeline.report import kol_page, write_report
from pgy_pipeline.report import write as write_module
from pgy_pipeline.report.queries import ReportData
from pgy_pipeline_tests.report.conftest import KOLS, A, C, build_warehouse


@pytest.fixture
def own_warehouse(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "pgy.duckdb")


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*.html")}


def test_pages_read_in_groups_are_the_pages_read_at_once(
    own_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = write_report(own_warehouse, tmp_path / "whole", compare=[A, C])
    monkeypatch.setattr(write_module, "KOLS_PER_READ", 1)
    grouped = write_report(own_warehouse, tmp_path / "grouped", compare=[A, C])
    assert len(grouped.kol_pages) == len(KOLS) and grouped.notes == whole.notes > 0
    assert _files(tmp_path / "grouped") == _files(tmp_path / "whole")


def test_a_page_is_rendered_with_the_rows_of_its_group_only(
    own_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[set[str]] = []
    real = ReportData.of_one

    def spy(data: ReportData, user_id: str) -> ReportData:
        held.append(set(data.notes) | set(data.cadence) | set(data.history) | set(data.figure_kols()))
        return real(data, user_id)

    monkeypatch.setattr(write_module, "KOLS_PER_READ", 2)
    monkeypatch.setattr(ReportData, "of_one", spy)
    write_report(own_warehouse, tmp_path / "report")
    kols = sorted(KOLS)
    groups = [set(kols[i : i + 2]) for i in range(0, len(kols), 2)]
    # Every page's fingerprint comes first, from no page's rows (unchanged.py: their digests)...
    fingerprinted, rendered = held[: len(kols)], held[len(kols) :]
    assert fingerprinted == [set()] * len(kols)
    # ...then the page of the i-th KOL was cut from the rows of its own group and no other.
    assert len(rendered) == len(kols)
    assert all(rows <= groups[i // 2] for i, rows in enumerate(rendered)), rendered
    assert A in rendered[kols.index(A)]


def test_groups_hold_at_most_so_many_notes_and_kols(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write_module, "NOTES_PER_READ", 100)
    monkeypatch.setattr(write_module, "KOLS_PER_READ", 3)
    notes = {"a": 60, "b": 30, "c": 20, "d": 250, "e": 1, "f": 1, "g": 1, "h": 1}

    groups = list(write_module.read_groups([*notes, "no_notes"], notes))

    # a+b fit (90), c would make 110; d alone is over the cap: a group of its own; then 3 KOLs at most.
    assert groups == [["a", "b"], ["c"], ["d"], ["e", "f", "g"], ["h", "no_notes"]]


def test_a_page_built_from_its_kols_slice_is_the_page_built_from_every_row(own_warehouse: Path) -> None:
    # What a worker gets (ReportData.of_one) must hold everything the page shows.
    import duckdb

    from pgy_pipeline.report.loading import load

    with duckdb.connect(str(own_warehouse), read_only=True) as conn:
        data = load(conn)
    assert data.ranked and data.figures and data.notes
    for k in KOLS:
        whole = kol_page.kol_page_inputs(data, k, "../index.html", "../compare.html")
        assert kol_page.PageSource(data.of_one(k), k, "../index.html", "../compare.html").inputs() == whole


def test_no_full_collection_runs_while_the_pages_are_built_and_the_collector_is_restored_after(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full collection walks the roster's summary and a group's rows again and again, for no
    # garbage: ~1 s of a 10,000-KOL report. Young collections go on as usual.
    during: list[tuple[int, int, int]] = []
    real = ReportData.of_one

    def spy(data: ReportData, user_id: str) -> ReportData:
        during.append(gc.get_threshold())
        return real(data, user_id)

    monkeypatch.setattr(ReportData, "of_one", spy)
    before = gc.get_threshold()
    write_report(warehouse, tmp_path / "out")
    with pytest.raises(write_module.ReportError):
        write_report(warehouse, tmp_path / "out", user_ids=["no_such_kol"])

    assert len(during) == 2 * len(KOLS)  # each page's fingerprint, then its page
    assert all(t[:2] == before[:2] and t[2] >= 1_000_000 for t in during)
    assert gc.get_threshold() == before  # after a report, and after one that failed


def test_the_index_and_the_comparison_are_written_after_every_kol_page(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reader with the report open never follows a link to a KOL page not written yet.
    from pgy_pipeline.report import kol_pages

    written: list[str] = []
    real = kol_pages.atomic_write

    def spy(path: Path, text: str) -> None:
        written.append(Path(path).name)
        real(path, text)

    monkeypatch.setattr(kol_pages, "atomic_write", spy)
    monkeypatch.setattr(write_module, "atomic_write", spy)
    write_report(warehouse, tmp_path / "out", compare=[A, C], processes=1)

    pages = [i for i, name in enumerate(written) if name not in ("index.html", "compare.html")]
    assert len(pages) == len(KOLS)
    assert written[-2:] == ["compare.html", "index.html"] and max(pages) < len(written) - 2


def test_reports_written_side_by_side_put_the_collector_back_once_the_last_ends() -> None:
    before = gc.get_threshold()
    first, second = write_module._young_collections_only(), write_module._young_collections_only()

    first.__enter__()
    second.__enter__()  # another thread's report starts before the first ends
    first.__exit__(None, None, None)
    assert gc.get_threshold()[2] >= 1_000_000  # the second report is still being written
    second.__exit__(None, None, None)

    assert gc.get_threshold() == before


def test_the_history_reads_the_totals_written_with_the_snapshots_not_the_snapshots(
    own_warehouse: Path,
) -> None:
    # Summing a year of snapshots took ~1.3 s of every report of 1,000 KOLs. The history is each
    # complete full fetch's totals, written with its snapshots (fetch_totals): the same figures.
    import duckdb

    from pgy_pipeline.report.loading import load

    with duckdb.connect(str(own_warehouse)) as conn:
        history = load(conn).history
        summed = conn.execute(
            "SELECT f.user_id, f.fetch_id, f.finished_at, count(*), sum(s.read_num), "
            "sum(s.like_num + s.collect_num) FROM fetches f JOIN note_snapshots s USING (fetch_id) "
            "WHERE f.is_full AND f.status = 'complete' GROUP BY ALL ORDER BY f.user_id, f.finished_at"
        ).fetchall()
        conn.execute("DELETE FROM note_snapshots")
        again = load(conn).history
    assert [tuple(r.values()) for k in sorted(history) for r in history[k]] == summed
    assert any(len(rows) > 1 for rows in history.values())
    assert again == history  # read from the totals, not from the snapshots
