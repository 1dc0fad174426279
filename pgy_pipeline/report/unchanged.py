"""Which KOL pages need writing again: only those whose content would change.

A KOL page is a pure function of its source (kol_page.PageSource: its KOL's rows, its links) and
of the report's code (this package's modules and templates). Each page ends with a fingerprint of both; a page whose
fingerprint matches is left as it is. So a run that changed a few KOLs rewrites a few pages,
not the whole roster's (10,000 new pages take ~7 s on 2 cores). The fingerprint lives in the page
itself, written in the same atomic rename: a page and its fingerprint cannot disagree, even when
two reports write the same folder.

The rows only a KOL's page shows (its notes, history, figures: the report's most rows) enter the
fingerprint as their digest (``details_digests``), summed up in SQL, so an unchanged page costs
no read of its rows into Python: a one-KOL refresh's report of 1,000 KOLs read them all to find
the one page that changed.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from pgy_pipeline.report.queries import PerKol

_MARK = "<!-- pgy page inputs "
_END = " -->\n"
_TAIL_BYTES = 128


@cache
def code_fingerprint() -> str:
    """The report package's code and templates: a change to either renders every page again."""
    package = Path(__file__).parent
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in (".py", ".html", ".js")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def pickled(source: Any) -> bytes | None:
    """A page's source as its fingerprint reads it (and a worker receives it); None if it does not pickle.

    Pickled, not JSON-encoded: 4x faster, and every value keeps its type (1 and 1.0, a date and its
    text differ). Equal sources built the same way pickle the same; where they would not (a set's
    order), the page is only rendered once more than needed.
    """
    try:
        return pickle.dumps(source, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None


def fingerprint_of(data: bytes) -> str:
    """Of a page's pickled source and the code that renders it."""
    return hashlib.blake2b(code_fingerprint().encode() + data, digest_size=16).hexdigest()


def details_digests(
    conn: duckdb.DuckDBPyConnection, reads: Sequence[PerKol], kols: Sequence[str] | None
) -> dict[str, bytes]:
    """Per KOL (of ``kols``; None: every KOL), its rows in each of ``reads`` as their count and the
    sum of their hashes (DuckDB's ``hash`` of the whole row, 64 bits). Equal digests mean equal rows,
    but for a collision of those sums; the order a page shows them in follows from the rows (each
    read's ``order``). A KOL with no row in any read has no digest."""
    if not reads or (kols is not None and not kols):
        return {}
    parts, params = [], []
    for number, read in enumerate(reads):
        sql, read_params = read.rows_of(kols)
        parts.append(
            f"SELECT {number} AS read, user_id, count(*) AS n, sum(hash(q)::HUGEINT) AS h "
            f"FROM ({sql}) AS q GROUP BY user_id"
        )
        params += read_params or []
    found: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for number, user_id, n, h in conn.execute(" UNION ALL ".join(parts), params or None).fetchall():
        found[user_id].append((number, n, h))
    return {k: repr(sorted(sums)).encode() for k, sums in found.items()}


def stamp(html: str, print_: str) -> str:
    """``html`` with its fingerprint at the end (a comment: browsers show nothing of it)."""
    return f"{html.rstrip()}\n{_MARK}{print_}{_END}"


def stamped(page: Path) -> str | None:
    """The fingerprint a written page carries; None when there is no page or no fingerprint."""
    try:
        with open(page, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - _TAIL_BYTES))
            tail = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    at = tail.rfind(_MARK)
    if at < 0 or not tail.endswith(_END):
        return None
    return tail[at + len(_MARK) : -len(_END)]
