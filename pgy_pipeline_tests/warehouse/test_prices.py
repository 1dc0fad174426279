"""Price import errors name the line a person sees in an editor, blank and multi-line rows included."""

from __future__ import annotations

import pytest

from pgy_pipeline.warehouse.prices import PricesError, parse_prices

HEADER = "user_id,price_type,price,currency,valid_from,valid_to,note\n"
GOOD = "5f0000000000000000000001,image_post,12000,CNY,2026-01-01,,\n"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        # The bad price is on line 5: two blank lines come before it.
        (HEADER + "\n" + GOOD + "\n" + "5f0000000000000000000002,video,lots,CNY,2026-01-01,,\n", "line 5"),
        ("\n" + HEADER + GOOD + "5f0000000000000000000002,video,lots,CNY,2026-01-01,,\n", "line 4"),
        # A note quoted over three lines: the bad row after it starts on line 5.
        (
            HEADER
            + '5f0000000000000000000001,image_post,12000,CNY,2026-01-01,,"a note\nover\nthree lines"\n'
            + "5f0000000000000000000002,video,lots,CNY,2026-01-01,,\n",
            "line 5",
        ),
        # The bad row is itself the one over several lines (2-4).
        (HEADER + '5f0000000000000000000002,video,lots,CNY,2026-01-01,,"a\nb\nc"\n', "lines 2-4"),
        # Windows line ends count once.
        ((HEADER + GOOD).replace("\n", "\r\n") + "\r\nbad id,video,1,CNY,2026-01-01,,\r\n", "line 4"),
    ],
)
def test_an_error_names_the_line_of_the_bad_row(text: str, where: str) -> None:
    with pytest.raises(PricesError) as err:
        parse_prices(text, "prices.csv")
    assert str(err.value).startswith(f"prices.csv {where}: "), str(err.value)


def test_blank_lines_and_multi_line_notes_are_read_as_data() -> None:
    text = (
        HEADER + "\n" + GOOD + '5f0000000000000000000002,video,9000,,2026-02-01,2026-03-01,"two\nlines"\n\n'
    )
    prices = parse_prices(text)
    assert [p.user_id for p in prices] == ["5f0000000000000000000001", "5f0000000000000000000002"]
    assert prices[1].note == "two\nlines" and prices[1].currency == "CNY"


def test_load_prices_replaces_the_table_only_when_the_file_says_something_else(tmp_path) -> None:
    from decimal import Decimal

    from pgy_pipeline.warehouse.prices import load_prices, prices_path
    from pgy_pipeline_tests.warehouse.lab import connect

    conn = connect()
    # A trigger-free way to see a rewrite: DuckDB gives a replaced row a new rowid.
    prices_path(tmp_path).write_text(HEADER + GOOD + "5f0000000000000000000002,video,9000.5,,2026-02-01,,\n")
    assert load_prices(conn, tmp_path) == 2
    rows = conn.execute("SELECT rowid, user_id, price, currency FROM kol_prices ORDER BY user_id").fetchall()
    assert [r[1:] for r in rows] == [
        ("5f0000000000000000000001", Decimal("12000.00"), "CNY"),
        ("5f0000000000000000000002", Decimal("9000.50"), "CNY"),
    ]
    assert load_prices(conn, tmp_path) == 2
    assert (
        conn.execute("SELECT rowid, user_id, price, currency FROM kol_prices ORDER BY user_id").fetchall()
        == rows
    )
    prices_path(tmp_path).write_text(HEADER + GOOD)
    load_prices(conn, tmp_path)
    assert conn.execute("SELECT user_id FROM kol_prices").fetchall() == [("5f0000000000000000000001",)]
    prices_path(tmp_path).write_text(HEADER)
    load_prices(conn, tmp_path)
    assert conn.execute("SELECT count(*) FROM kol_prices").fetchone() == (0,)
