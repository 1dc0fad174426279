"""The report written from a real warehouse file: pages, figures from the views, escaping, offline."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from pgy_pipeline.report import ReportError, write_report
from pgy_pipeline.report.layout import esc, fmt_num, fmt_pct
from pgy_pipeline.report.shortlist import FIGURE_TITLES
from pgy_pipeline_tests.report.conftest import (
    CATEGORIES,
    HOSTILE_BRAND,
    HOSTILE_TITLE,
    KOLS,
    A,
    B,
    C,
    D,
    build_warehouse,
)


def _html(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _row(html: str, marker: str) -> str:
    """The table row holding ``marker``."""
    at = html.index(marker)
    return html[html.rfind("<tr", 0, at) : html.index("</tr>", at)]


@pytest.fixture(scope="module")
def report(warehouse: Path, tmp_path_factory: pytest.TempPathFactory):
    return write_report(warehouse, tmp_path_factory.mktemp("report"), compare=[A, B, C])


def test_every_page_is_written_with_plotly_beside_it(report):
    out = report.out_dir
    assert report.index == out / "index.html" and report.index.exists()
    assert report.compare == out / "compare.html" and report.compare.exists()
    assert set(report.kol_pages) == set(KOLS)
    assert all(p.parent == out / "kol" and p.exists() for p in report.kol_pages.values())
    assert (out / "plotly.min.js").stat().st_size > 1_000_000
    assert report.ranked == 2 and report.notes == 26


def test_pages_declare_utf8_and_load_no_script_from_the_network(report):
    pages = [report.index, report.compare, *report.kol_pages.values()]
    for page in pages:
        html = _html(page)
        assert '<meta charset="utf-8">' in html
        assert "Noto Sans CJK SC" in html
        assert not re.search(r"<script[^>]*\ssrc=[\"']?(https?:)?//", html), page
        assert not re.search(r"<link[^>]*\shref=[\"']?(https?:)?//", html), page
    assert '<script src="plotly.min.js"' in _html(report.index)
    assert '<script src="../plotly.min.js"' in _html(report.kol_pages[A])


def test_the_index_shows_the_leaderboard_view_and_links_each_kol(report, ro):
    html = _html(report.index)
    rows = ro.execute("SELECT * FROM kol_leaderboard ORDER BY rank").fetchall()
    assert {r[0] for r in rows} == {A, B}
    for user_id, label, notes, pooled, median, reads, rank in rows:
        row = _row(html, f'href="kol/{user_id}.html"')
        assert esc(label) in row and user_id in row
        for shown in (fmt_num(notes), fmt_pct(pooled), fmt_pct(median), fmt_num(reads), f">{rank}<"):
            assert shown in row, (user_id, shown)
    # KOLs the view leaves out (fewer than 10 notes) are listed apart, still linked.
    unranked = html[html.index("Not ranked") :]
    assert f'href="kol/{C}.html"' in unranked and f'href="kol/{D}.html"' in unranked
    assert 'class="sortable"' in html and "addEventListener" in html


def test_each_kol_page_shows_its_label_and_the_figures_of_the_views(report, ro):
    for user_id, label in KOLS.items():
        html = _html(report.kol_pages[user_id])
        assert (esc(label) if label else "(no label)") in html
        assert user_id in html
        lb = ro.execute(
            "SELECT notes, like_collect_rate_pooled, reads_median, rank FROM kol_leaderboard WHERE user_id = ?",
            [user_id],
        ).fetchone()
        if lb:
            for shown in (fmt_num(lb[0]), fmt_pct(lb[1]), fmt_num(lb[2])):
                assert shown in html
        for kind, notes, reads, lc, rate in ro.execute(
            "SELECT kind, notes, reads_median, like_collect_median, like_collect_rate_pooled "
            "FROM kol_organic_vs_cooperation WHERE user_id = ?",
            [user_id],
        ).fetchall():
            row = _row(html, f"<td>{kind}</td>")
            assert [fmt_num(notes), fmt_num(reads), fmt_num(lc), fmt_pct(rate)] == re.findall(
                r'class="num"[^>]*>([^<]*)<', row
            )
        eng = ro.execute(
            "SELECT notes_per_week_90d, notes_30d FROM kol_engagement WHERE user_id = ?", [user_id]
        ).fetchone()
        if eng:
            assert f"{eng[0]:.2f}" in html


def _most_read(ro, user_id: str, columns: str, limit: int) -> list[tuple]:
    """A KOL's most read live notes: ties in reads go by note id, notes without reads (NULL) last."""
    return ro.execute(
        f"SELECT {columns} FROM note_engagement WHERE user_id = ? "
        f"ORDER BY read_num DESC NULLS LAST, note_id LIMIT {limit}",
        [user_id],
    ).fetchall()


def test_top_notes_show_title_date_reads_rate_and_the_cover_image(report, ro):
    html = _html(report.kol_pages[A])
    top = _most_read(ro, A, "note_id, publish_date, read_num, like_collect_rate", 3)
    for note_id, published, reads, rate in top:
        row = _row(html, note_id)
        assert published.isoformat() in row and fmt_num(reads) in row and fmt_pct(rate) in row
    assert '<img class="cover" src="https://example.invalid/' in html and 'alt="cover of ' in html


def test_the_top_notes_table_holds_the_ten_most_read_notes_in_order_of_reads(report, ro):
    for user_id in KOLS:
        html = _html(report.kol_pages[user_id])
        expected = _most_read(ro, user_id, "note_id", 10)
        if not expected:
            assert "notes by reads</h2>" not in html
            continue
        table = html[html.index("notes by reads</h2>") :]
        table = table[: table.index("</table>")]
        shown = re.findall(r'<span class="muted">([^<]*)</span></td>', table)
        assert shown == [esc(n) for (n,) in expected], user_id
    live = ro.execute(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM note_engagement GROUP BY user_id)"
    ).fetchone()
    assert live[0] > 10  # some KOL has notes the table leaves out


def test_text_from_the_data_is_escaped(report):
    every_page = "".join(_html(p) for p in [report.index, report.compare, *report.kol_pages.values()])
    assert "<script>alert" not in every_page and "<b>bold</b>" not in every_page
    assert "<i>Coco</i>" not in every_page
    assert esc(HOSTILE_TITLE) in _html(report.kol_pages[A])
    assert esc(HOSTILE_BRAND) in _html(report.kol_pages[A])
    assert esc("穿搭<i>Coco</i>") in _html(report.index)


def test_history_appears_once_a_kol_has_two_refreshes(report):
    assert 'id="history"' in _html(report.kol_pages[A])
    assert "One complete refresh so far" in _html(report.kol_pages[B])


def test_a_kol_without_notes_still_gets_a_page_that_says_so(report):
    html = _html(report.kol_pages[D])
    assert "No live notes for this KOL" in html and "空空如也" in html


def test_the_compare_page_puts_the_chosen_kols_side_by_side(report, ro):
    html = _html(report.compare)
    head = html[: html.index("</thead>")]
    assert [m for m in re.findall(r'href="kol/([^"]+)\.html"', head)] == [A, B, C]
    for user_id, pooled, reads in ro.execute(
        "SELECT user_id, like_collect_rate_pooled, reads_median FROM kol_leaderboard"
    ).fetchall():
        assert fmt_pct(pooled) in html and fmt_num(reads) in html, user_id
    assert "not ranked" in html  # C has fewer than 10 notes
    assert 'href="compare.html"' in _html(report.index)


@pytest.mark.parametrize(
    ("compare", "message"),
    [
        ([A], "2 to 5 different KOLs, got 1"),
        ([A, A], "2 to 5 different KOLs, got 1"),
        ([A, B, C, D, "k5", "k6"], "got 6"),
        ([A, "nobody"], "unknown KOL(s), not in the warehouse: nobody"),
    ],
)
def test_a_wrong_compare_list_is_refused_clearly(warehouse, tmp_path, compare, message):
    with pytest.raises(ReportError, match=re.escape(message)):
        write_report(warehouse, tmp_path / "r", compare=compare)
    assert not (tmp_path / "r" / "index.html").exists()


def test_an_unknown_kol_or_a_missing_warehouse_is_refused(warehouse, tmp_path):
    with pytest.raises(ReportError, match="unknown KOL"):
        write_report(warehouse, tmp_path, user_ids=[A, "ghost"])
    with pytest.raises(ReportError, match="no warehouse at"):
        write_report(tmp_path / "missing.duckdb", tmp_path)


def test_a_chosen_subset_replaces_the_pages_of_an_earlier_report(warehouse, tmp_path):
    write_report(warehouse, tmp_path, compare=[A, B])
    result = write_report(warehouse, tmp_path, user_ids=[B])
    assert sorted(p.name for p in (tmp_path / "kol").iterdir()) == [f"{B}.html"]
    assert result.compare is None and not (tmp_path / "compare.html").exists()
    assert A not in _html(result.index)


def test_an_empty_warehouse_writes_a_report_that_says_so(tmp_path):
    db = build_warehouse(tmp_path / "empty.duckdb", empty=True)
    result = write_report(db, tmp_path / "out")
    assert result.kol_pages == {} and result.ranked == 0
    assert "The warehouse holds no KOL yet" in _html(result.index)


def test_a_warehouse_without_kol_engagement_still_reports_the_views(tmp_path):
    db = build_warehouse(tmp_path / "fresh.duckdb", engagement=False)
    result = write_report(db, tmp_path / "out", compare=[A, B])
    assert result.ranked == 2
    html = _html(result.kol_pages[A])
    assert "厨房小白" in html and "notes per week" not in html and "Top 10 notes" in html


def test_a_thousand_kols_each_get_a_page(tmp_path):
    # One query per view for the whole roster: N queries per KOL would blow this budget.
    db = build_warehouse(tmp_path / "big.duckdb", empty=True)
    conn = duckdb.connect(str(db))
    conn.execute(
        "INSERT INTO kols (user_id, label, added_at) SELECT printf('kol%04d', i), '达人' || i, now() FROM range(1000) t(i)"
    )
    conn.execute(
        "INSERT INTO notes SELECT printf('kol%04d', k), printf('n%04d%04d', k, i), 'title ' || i, "
        "current_date - (i * 7)::INT, i % 3 = 0, i % 4 = 0, NULL, NULL, 1000 + (k * 37 + i * 101) % 9000, "
        "30 + (k + i) % 700, 10 + (k * i) % 300, 0, now(), now(), NULL, 'f', 'default' "
        "FROM range(1000) a(k), range(12) b(i)"
    )
    conn.close()
    result = write_report(db, tmp_path / "out")
    # How long it takes is measured by `python -m bench.report_bench`, never asserted here.
    assert len(result.kol_pages) == 1000 and result.ranked == 1000


def test_the_buyers_figures_are_shown_as_the_tables_hold_them(report, ro):
    kol = _html(report.kol_pages[A])
    price_type, per_1k, per_lc = ro.execute(
        "SELECT price_type, cost_per_1k_reads_90d, cost_per_like_collect_90d FROM kol_costs WHERE user_id = ?",
        [A],
    ).fetchone()
    row = _row(kol, f"<td>{price_type}</td>")
    assert f"{per_1k:,.2f}" in row and f"{per_lc:,.2f}" in row
    rows = ro.execute(
        "SELECT figure, price_type, roster_kols, roster_percentile, category_percentile, category_note FROM kol_percentiles "
        "WHERE user_id = ?",
        [A],
    ).fetchall()
    assert len(rows) >= 8
    for figure, ptype, kols, roster, category, note in rows:
        row = _row(kol, f"<td>{esc(FIGURE_TITLES[figure] + (f' · {ptype}' if ptype else ''))}</td>")
        assert (fmt_pct(roster) if kols > 1 else "no other KOL has it") in row, figure
        assert (esc(note) if note else fmt_pct(category)) in row, figure
    for brand, notes in ro.execute("SELECT brand, notes FROM kol_brands WHERE user_id = ?", [A]).fetchall():
        assert f">{notes}<" in _row(kol, f"<td>{esc(brand)}</td>")
    assert "No price for this KOL" in _html(report.kol_pages[B])
    board = _row(_html(report.index), f'data-user="{A}"')
    assert f">{CATEGORIES[A]}<" in board and f"{per_1k:,.2f}" in board
    compare = _row(_html(report.compare), "<th>cost / 1,000 reads (90 days)</th>")
    assert re.findall(r"<td class=num>([^<]*)</td>", compare) == [f"{per_1k:,.2f}", "–", "–"]  # A, B, C


def test_a_warehouse_of_an_older_schema_is_refused_with_what_to_do(tmp_path):
    # After an upgrade, the report reads tables the warehouse gets at its first write: it says so
    # instead of failing on a missing table.
    from pgy_pipeline.warehouse.migrations import LATEST_VERSION, migrate

    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as conn:
        migrate(conn, target=LATEST_VERSION - 1)
    out = tmp_path / "out"
    with pytest.raises(ReportError, match=rf"schema version {LATEST_VERSION - 1}.*`pgy refresh`"):
        write_report(db, out)
    assert not out.exists()  # nothing half-written
