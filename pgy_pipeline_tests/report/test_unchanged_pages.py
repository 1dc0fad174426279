"""A report rewrites only the KOL pages whose content changed (issue 20: 10,000 pages take ~10 s)."""

from __future__ import annotations

from collections.abc import Callable
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


def _details_read(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The groups of KOLs whose page rows the next reports read (load_details' calls)."""
    groups: list[list[str]] = []
    real = write_module.load_details

    def spy(conn: duckdb.DuckDBPyConnection, data: object, kols: list[str]) -> None:
        groups.append(list(kols))
        real(conn, data, kols)  # type: ignore[arg-type]

    monkeypatch.setattr(write_module, "load_details", spy)
    return groups


def test_a_report_of_unchanged_data_reads_no_kol_page_rows(
    own_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report"
    write_report(own_warehouse, out)
    groups = _details_read(monkeypatch)
    assert write_report(own_warehouse, out).kol_pages_written == 0
    assert groups == []  # the digests said every page is as written


def test_a_change_to_rows_only_a_kol_page_shows_writes_that_page_from_its_rows_alone(
    own_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report"
    write_report(own_warehouse, out)
    with duckdb.connect(str(own_warehouse)) as conn:
        note = conn.execute(
            "SELECT note_id FROM notes WHERE user_id = ? ORDER BY note_id LIMIT 1", [B]
        ).fetchone()
        conn.execute("UPDATE notes SET title = '<b>改名</b>' WHERE user_id = ? AND note_id = ?", [B, note[0]])
    groups = _details_read(monkeypatch)
    again = write_report(own_warehouse, out)
    assert again.kol_pages_written == 1 and groups == [[B]]
    assert "&lt;b&gt;改名" in again.kol_pages[B].read_text(encoding="utf-8")  # escaped, as every title


def test_every_read_of_a_kol_page_enters_its_digest(
    own_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A read that load_details makes and the digest leaves out would leave its page stale.
    from pgy_pipeline.report import loading

    made: list[object] = []

    def recording(real: Callable[..., object]) -> Callable[..., object]:
        def read(conn: duckdb.DuckDBPyConnection, what: object, kols: list[str]) -> object:
            made.append(what)
            return real(conn, what, kols)

        return read

    for name in ("_per_kol", "_tuples_per_kol"):
        monkeypatch.setattr(loading, name, recording(getattr(loading, name)))
    with duckdb.connect(str(own_warehouse), read_only=True) as conn:
        data = loading.load_summary(conn)
        made.clear()
        loading.load_details(conn, data, [A])
    assert data.figures and made  # the page-only figures are read too
    assert set(made) == set(loading.detail_reads(data))  # type: ignore[arg-type]


@pytest.fixture
def rows() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (user_id VARCHAR, note_id VARCHAR, title VARCHAR, reads DOUBLE)")
    conn.execute("INSERT INTO t VALUES ('a', 'n1', 'x', 1.0), ('a', 'n2', 'y', 2.0), ('b', 'n1', 'x', 1.0)")
    return conn


def _digests(conn: duckdb.DuckDBPyConnection, kols: list[str] | None = None) -> dict[str, bytes]:
    from pgy_pipeline.report.queries import PerKol
    from pgy_pipeline.report.unchanged import details_digests

    return details_digests(conn, [PerKol("SELECT * FROM t", "user_id, note_id")], kols)


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE t SET reads = 1.5 WHERE user_id = 'a' AND note_id = 'n1'",  # one value
        "UPDATE t SET reads = NULL WHERE user_id = 'a' AND note_id = 'n1'",  # a value to NULL
        "UPDATE t SET title = CASE note_id WHEN 'n1' THEN 'y' ELSE 'x' END WHERE user_id = 'a'",  # swapped
        "INSERT INTO t VALUES ('a', 'n1', 'x', 1.0)",  # the same row twice
        "DELETE FROM t WHERE user_id = 'a' AND note_id = 'n2'",  # a row fewer
    ],
)
def test_a_digest_changes_with_any_change_to_its_kols_rows_and_no_other(
    rows: duckdb.DuckDBPyConnection, change: str
) -> None:
    before = _digests(rows)
    rows.execute(change)
    after = _digests(rows)
    assert after["a"] != before["a"] and after["b"] == before["b"]
    assert _digests(rows, ["b"]) == {"b": before["b"]}  # a digest of some KOLs is theirs alone
    assert _digests(rows, []) == {}
