"""A report rewrites only the KOL pages whose content changed (issue 20: 10,000 pages take ~10 s)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pgy_pipeline.report import unchanged as unchanged_module
from pgy_pipeline.report import write as write_module
from pgy_pipeline.report import write_report
from pgy_pipeline.report.unchanged import stamped
from pgy_pipeline_tests.report.conftest import KOLS, A, B, build_warehouse


@pytest.fixture
def own_warehouse(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "pgy.duckdb")


def test_a_second_report_of_the_same_data_writes_no_kol_page(own_warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    first = write_report(own_warehouse, out)
    assert first.kol_pages_written == len(KOLS)
    before = {k: p.stat().st_mtime_ns for k, p in first.kol_pages.items()}
    second = write_report(own_warehouse, out)
    assert second.kol_pages_written == 0
    assert {k: p.stat().st_mtime_ns for k, p in second.kol_pages.items()} == before


def test_a_first_report_opens_no_page_to_read_its_fingerprint(
    own_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[Path] = []

    def counting(page: Path) -> str | None:
        read.append(page)
        return stamped(page)

    monkeypatch.setattr(write_module, "stamped", counting)
    first = write_report(own_warehouse, tmp_path / "report")
    assert first.kol_pages_written == len(KOLS) and read == []
    write_report(own_warehouse, tmp_path / "report")
    assert sorted(read) == sorted(first.kol_pages.values())  # the pages there are read, each once


def test_only_the_page_of_the_kol_whose_figures_changed_is_written_again(
    own_warehouse: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    write_report(own_warehouse, out)
    with duckdb.connect(str(own_warehouse)) as conn:
        conn.execute("UPDATE kols SET label = 'renamed' WHERE user_id = ?", [B])
    again = write_report(own_warehouse, out)
    assert again.kol_pages_written == 1
    assert "renamed" in again.kol_pages[B].read_text(encoding="utf-8")


def test_a_page_edited_or_truncated_by_hand_is_written_again(own_warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    first = write_report(own_warehouse, out)
    first.kol_pages[A].write_text("<html>half a page", encoding="utf-8")
    assert stamped(first.kol_pages[A]) is None
    again = write_report(own_warehouse, out)
    assert again.kol_pages_written == 1 and stamped(again.kol_pages[A]) is not None


def test_a_change_to_the_report_code_writes_every_page_again(
    own_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report"
    write_report(own_warehouse, out)
    monkeypatch.setattr(unchanged_module, "code_fingerprint", lambda: "another version of the templates")
    assert write_report(own_warehouse, out).kol_pages_written == len(KOLS)


def test_the_code_fingerprint_covers_the_templates() -> None:
    package = Path(unchanged_module.__file__).parent
    assert (package / "templates" / "kol.html").is_file()
    unchanged_module.code_fingerprint.cache_clear()
    assert len(unchanged_module.code_fingerprint()) == 32


def test_inputs_that_do_not_pickle_are_always_rendered() -> None:
    from pgy_pipeline.report.unchanged import fingerprint_of, pickled

    def fingerprint(inputs: dict[str, object]) -> str:
        data = pickled(inputs)
        assert data is not None
        return fingerprint_of(data)

    assert pickled({"chart": lambda: None}) is None  # no fingerprint: the page is always written
    assert fingerprint({"n": 1}) != fingerprint({"n": 1.0})  # a type change shows on the page
    assert fingerprint({"n": 1}) == fingerprint({"n": 1})
