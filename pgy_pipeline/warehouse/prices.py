"""Analysts' prices (``kol_prices``): kept in ``data/kol_prices.csv``, loaded into the warehouse.

``pgy.duckdb`` is a snapshot the pipeline replaces at every publish, so a row an analyst
writes into it directly is gone at the next refresh. The CSV file is the analysts' own:
the pipeline only reads it, and copies it into ``kol_prices`` on every write, so prices
survive every refresh. ``pgy prices import FILE`` checks a file and puts it in place.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb

from pgy_pipeline.justoneapi.params import USER_ID_PATTERN

COLUMNS = ("user_id", "price_type", "price", "currency", "valid_from", "valid_to", "note")
REQUIRED = ("user_id", "price_type", "price", "valid_from")


class PricesError(ValueError):
    """A prices file that cannot be loaded; the message names the line and the column."""


@dataclass(frozen=True)
class Price:
    user_id: str
    price_type: str
    price: Decimal
    currency: str
    valid_from: date
    valid_to: date | None
    note: str | None


def prices_path(data_dir: Path) -> Path:
    return data_dir / "kol_prices.csv"


def _date(value: str, where: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PricesError(f"{where}: {value!r} is not a YYYY-MM-DD date") from None


def _records(text: str) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
    """The header of a CSV text, and each record after it as (the lines it spans, its values).

    Lines are counted as a text editor counts them: blank lines count, and a quoted field
    spanning lines counts each one (csv.DictReader skips blank lines and numbers records, not lines).
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    records: list[tuple[str, dict[str, str]]] = []
    end = 0  # the last line of the previous record
    for row in reader:
        start, end = end + 1, reader.line_num
        if not any(v.strip() for v in row):
            continue  # a blank line is no record
        if header is None:
            header = [h.strip() for h in row]
            continue
        lines = f"line {start}" if start == end else f"lines {start}-{end}"
        records.append((lines, dict(zip(header, row, strict=False))))
    return header or [], records


def parse_prices(text: str, source: str = "kol_prices.csv") -> list[Price]:
    """Every row of a prices CSV, or PricesError naming the first bad line and column."""
    try:
        header, records = _records(text)
    except csv.Error as exc:
        raise PricesError(f"{source}: not a readable CSV file ({exc})") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise PricesError(f"{source}: the header lacks {', '.join(missing)} (columns: {', '.join(COLUMNS)})")
    out: list[Price] = []
    for lines, row in records:
        where = f"{source} {lines}"
        values = {k: (row.get(k) or "").strip() for k in COLUMNS}
        for col in REQUIRED:
            if not values[col]:
                raise PricesError(f"{where}: {col} is empty")
        if not USER_ID_PATTERN.fullmatch(values["user_id"]):
            raise PricesError(f"{where}: user_id {values['user_id']!r} is not a Xiaohongshu user id")
        try:
            price = Decimal(values["price"])
        except InvalidOperation:
            raise PricesError(f"{where}: price {values['price']!r} is not a number") from None
        if not price.is_finite() or price < 0 or price >= Decimal("1e10"):
            raise PricesError(f"{where}: price {values['price']!r} must be between 0 and 9,999,999,999.99")
        valid_from = _date(values["valid_from"], f"{where}, valid_from")
        valid_to = _date(values["valid_to"], f"{where}, valid_to") if values["valid_to"] else None
        if valid_to is not None and valid_to < valid_from:
            raise PricesError(f"{where}: valid_to {valid_to} is before valid_from {valid_from}")
        out.append(
            Price(
                values["user_id"],
                values["price_type"],
                price,
                values["currency"] or "CNY",
                valid_from,
                valid_to,
                values["note"] or None,
            )
        )
    return out


def load_prices(conn: duckdb.DuckDBPyConnection, data_dir: Path) -> int:
    """Make ``kol_prices`` the rows of ``data/kol_prices.csv`` (the caller owns the transaction).

    A missing file leaves the table as it is. A bad file raises PricesError, which the
    caller reports; the table then keeps its last good contents.
    """
    path = prices_path(data_dir)
    if not path.exists():
        return 0
    prices = parse_prices(path.read_text(encoding="utf-8-sig"), str(path))
    columns: dict[str, list[object]] = {c: [getattr(p, c) for p in prices] for c in COLUMNS}
    columns["price"] = [str(p.price) for p in prices]  # through text: a price keeps its exact value
    conn.execute("CREATE OR REPLACE TEMP TABLE _prices AS SELECT * FROM kol_prices LIMIT 0")
    try:
        conn.execute(
            "INSERT INTO _prices (user_id, price_type, price, currency, valid_from, valid_to, note) "
            "SELECT unnest($user_id::VARCHAR[]), unnest($price_type::VARCHAR[]), "
            "CAST(unnest($price::VARCHAR[]) AS DECIMAL(12, 2)), unnest($currency::VARCHAR[]), "
            "unnest($valid_from::DATE[]), unnest($valid_to::DATE[]), unnest($note::VARCHAR[])",
            columns,
        )
        # Replaced only when the file says something else: every run loads it, and on the lake a
        # replacement is a deletion and an insertion of every row, run after run.
        differs = conn.execute(
            "SELECT EXISTS (FROM kol_prices EXCEPT ALL FROM _prices) OR EXISTS (FROM _prices EXCEPT ALL FROM kol_prices)"
        ).fetchone()
        if differs and differs[0]:
            conn.execute("DELETE FROM kol_prices")
            conn.execute("INSERT INTO kol_prices BY NAME SELECT * FROM _prices")
    finally:
        conn.execute("DROP TABLE IF EXISTS _prices")
    return len(prices)


def install_prices(data_dir: Path, source: Path) -> int:
    """Check ``source`` and make it the data dir's prices file (atomically); returns its rows."""
    text = source.read_text(encoding="utf-8-sig")
    rows = len(parse_prices(text, str(source)))
    target = prices_path(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".csv.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return rows
