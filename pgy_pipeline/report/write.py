"""Write the static KOL report: read the warehouse read-only, then render every page.

The index's rows are read once; the KOL pages' rows a group of KOLs at a time (queries.py), so
the memory a report needs follows the group, not the roster.

The folder is self-contained (pages, ``plotly.min.js``), so it opens from disk with no
network and can be zipped and mailed. Each page is written to a temp file and renamed
into place, so someone with the report open never reads a half-written page; the index and the
comparison go last, so none of their links leads to a KOL page not written yet.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import duckdb

from pgy_pipeline.report.compare_page import COMPARE_MAX, COMPARE_MIN, compare_page
from pgy_pipeline.report.index_page import index_page
from pgy_pipeline.report.kol_page import PageSource
from pgy_pipeline.report.kol_pages import Page, PageWriter, atomic_write
from pgy_pipeline.report.layout import PLOTLY_JS, page_name
from pgy_pipeline.report.loading import detail_reads, load_details, load_summary
from pgy_pipeline.report.queries import ReportData
from pgy_pipeline.report.unchanged import details_digests, fingerprint_of, pickled, stamped
from pgy_pipeline.warehouse.migrations import LATEST_VERSION, current_version

INDEX, COMPARE, KOL_DIR = "index.html", "compare.html", "kol"
# The KOLs whose page rows are read and held at once: up to NOTES_PER_READ live notes, ~1.5 KB each
# (10,000 KOLs of 60 notes held at once took 899 MiB), so ~45 MB; and up to KOLS_PER_READ KOLs. A
# read costs ~0.1 s whatever its size: 10,000 KOLs of one page read 500 at a time took 1.7 s, 2,000
# at a time 1.1 s. Larger groups of big KOLs were no faster (the workers wait while one is read).
NOTES_PER_READ = 30_000
KOLS_PER_READ = 2_000


def read_groups(kols: Sequence[str], live_notes: dict[str, int]) -> Iterator[list[str]]:
    """``kols`` in order, cut into groups of at most NOTES_PER_READ live notes and KOLS_PER_READ
    KOLs (a KOL with more notes than that is a group of its own)."""
    group: list[str] = []
    notes = 0
    for k in kols:
        n = live_notes.get(k, 0)
        if group and (notes + n > NOTES_PER_READ or len(group) >= KOLS_PER_READ):
            yield group
            group, notes = [], 0
        group.append(k)
        notes += n
    if group:
        yield group


class ReportError(ValueError):
    """The report cannot be written as asked (no warehouse, unknown KOL, wrong compare list)."""


@dataclass(frozen=True)
class ReportResult:
    """What ``write_report`` wrote: paths to hand to a person, counts to show in metadata."""

    out_dir: Path
    index: Path
    kol_pages: dict[str, Path] = field(default_factory=dict)  # user_id -> page
    kol_pages_written: int = 0  # the others were unchanged (report/unchanged.py)
    compare: Path | None = None
    ranked: int = 0  # KOLs of the report on the kol_leaderboard view
    processes: int = 0  # worker processes that wrote KOL pages (0: all written in this process)
    notes: int = 0  # live notes of the KOLs of the report
    seconds: float = 0.0


def _plotly_js_source() -> Path:
    """plotly.min.js as the plotly package ships it (found without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise ReportError("the plotly package is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / PLOTLY_JS


def _write_plotly_js(out_dir: Path) -> None:
    source, target = _plotly_js_source(), out_dir / PLOTLY_JS
    # 4.8 MB of JS: skip the copy when this plotly version already wrote it.
    if target.exists() and target.stat().st_size == source.stat().st_size:
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _check_compare(compare: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(compare))
    if chosen and not COMPARE_MIN <= len(chosen) <= COMPARE_MAX:
        raise ReportError(
            f"compare takes {COMPARE_MIN} to {COMPARE_MAX} different KOLs, got {len(chosen)}: {', '.join(chosen)}"
        )
    return chosen


class _Snapshots(Protocol):
    def connect_snapshot(self) -> duckdb.DuckDBPyConnection: ...


@contextlib.contextmanager
def _reading(source: Path | _Snapshots) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse file, or to a warehouse object's snapshot."""
    if not isinstance(source, Path):  # a warehouse (the lake has no file to open)
        conn = source.connect_snapshot()
    else:
        if not source.is_file():
            raise ReportError(f"no warehouse at {source}: run `pgy refresh` (or `make run`) first")
        try:
            conn = duckdb.connect(str(source), read_only=True)
        except duckdb.Error as exc:
            raise ReportError(f"cannot open the warehouse {source} read-only: {exc}") from None
    try:
        version = current_version(conn)
        if version < LATEST_VERSION:
            # A pgy-pipeline upgrade reads tables the warehouse gets at its first write (migrations).
            raise ReportError(
                f"the warehouse is at schema version {version} and this pgy-pipeline reads version "
                f"{LATEST_VERSION}: write to it once (`pgy refresh`, or `make run`), which upgrades it, "
                "then write the report"
            )
        yield conn
    finally:
        conn.close()


class _YoungCollectionsOnly:
    """Python's collector runs as usual, except its full collections, while a report is written.

    A full collection walks every live object: the roster's summary and a group's rows (~0.5 M
    objects at 10,000 KOLs), again each time the heap grew by a quarter, for no garbage (they
    die by reference count, group by group). In a 10,000-KOL report that was ~1 s of its main
    process, in ~70 ms walks. Young collections still free the cycles that rendering makes.
    The threshold is the process's: reports written side by side (threads) share one hold, and
    the last to finish puts the threshold back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved = gc.get_threshold()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if not self._holders:
                self._saved = young, middle, _ = gc.get_threshold()
                gc.set_threshold(young, middle, 1_000_000)  # a full collection after 10^6 middle ones: never
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if not self._holders:
                    gc.set_threshold(*self._saved)


_young_collections_only = _YoungCollectionsOnly().held


def _fingerprints(
    conn: duckdb.DuckDBPyConnection,
    data: ReportData,
    kols: Sequence[str] | None,
    links: tuple[str, str | None],
) -> dict[str, str | None]:
    """Each KOL page's fingerprint (unchanged.py), of ``kols`` (None: the roster), from the summary
    ``data`` holds and the digest of the rows only its page shows, before any of those is read
    (None: its source does not pickle)."""
    digests = details_digests(conn, detail_reads(data), kols)
    prints: dict[str, str | None] = {}
    for k in sorted(data.roster) if kols is None else kols:
        summary = pickled(PageSource(data.of_one(k), k, *links))
        prints[k] = None if summary is None else fingerprint_of(summary + digests.get(k, b""))
    return prints


def write_report(
    db_path: str | os.PathLike[str] | _Snapshots,
    out_dir: str | os.PathLike[str],
    user_ids: Sequence[str] | None = None,
    compare: Sequence[str] = (),
    notice: str | None = None,
    processes: int | None = None,
) -> ReportResult:
    """Write the KOL scorecard under ``out_dir`` from the warehouse file ``db_path`` (opened read-only),
    or from a warehouse object's read-only snapshot (the DuckLake backend has no single file).

    ``user_ids``: the KOLs of the report (None: every KOL the warehouse knows). ``compare``:
    2 to 5 KOLs for ``compare.html`` (empty: no comparison page); they get pages too.
    Writes ``index.html``, ``kol/<user_id>.html`` per KOL (only those whose content changed:
    report/unchanged.py), ``compare.html`` and ``plotly.min.js``; KOL pages of an earlier report
    that are no longer part of it are removed.
    Raises ``ReportError`` for a missing warehouse, an unknown KOL or a wrong compare list.
    ``notice`` (e.g. "simulated data") is shown at the top of every page. ``processes``: worker
    processes for the KOL pages when many change (report/kol_pages.py; None: up to 4, 1: none).
    """
    started = time.monotonic()
    source = Path(db_path) if isinstance(db_path, str | os.PathLike) else db_path
    out = Path(out_dir)
    chosen = _check_compare(compare)
    only = None if user_ids is None else set(user_ids) | set(chosen)
    with _young_collections_only(), _reading(source) as conn:
        data = load_summary(conn, only)
        data.notice = notice
        unknown = sorted(k for k in (only or set(chosen)) if k not in data.roster)
        if unknown:
            raise ReportError(f"unknown KOL(s), not in the warehouse: {', '.join(unknown)}")
        kols = sorted(data.roster if only is None else only)

        (out / KOL_DIR).mkdir(parents=True, exist_ok=True)
        # Listed once (10,000 new pages: 10,000 failed opens, slow beside the workers creating files).
        existing = {entry.name for entry in os.scandir(out / KOL_DIR)}
        _write_plotly_js(out)
        names = {k: page_name(k) for k in kols}
        compare_path = out / COMPARE if chosen else None
        from_root = {k: f"{KOL_DIR}/{n}" for k, n in names.items()}
        pages = {k: out / KOL_DIR / names[k] for k in kols}
        links = (f"../{INDEX}", f"../{COMPARE}" if chosen else None)
        prints = _fingerprints(conn, data, None if only is None else kols, links)
        changed = [
            k for k in kols if prints[k] is None or names[k] not in existing or stamped(pages[k]) != prints[k]
        ]
        with PageWriter(processes) as writer:
            writer.expect(len(changed))  # the workers start now, beside the first read
            for group in read_groups(changed, data.live_notes):
                load_details(conn, data, group)
                cuts = {k: PageSource(data.of_one(k), k, *links) for k in group}
                writer.write([Page(str(pages[k]), cut, pickled(cut), prints[k]) for k, cut in cuts.items()])
        # Every KOL page is written (leaving the writer waited for its workers): the pages that
        # link to them go last, so a reader of the report never follows a link to a missing page.
        if compare_path:
            load_details(conn, data, chosen)
            atomic_write(compare_path, compare_page(data, chosen, from_root, INDEX))
        else:
            (out / COMPARE).unlink(missing_ok=True)
        atomic_write(out / INDEX, index_page(data, kols, from_root, COMPARE if chosen else None))
    for stale in set((out / KOL_DIR).glob("*.html")) - set(pages.values()):
        stale.unlink()
    return ReportResult(
        out_dir=out,
        index=out / INDEX,
        kol_pages=pages,
        kol_pages_written=writer.written,
        compare=compare_path,
        ranked=sum(1 for k in kols if k in data.ranked),
        processes=writer.processes_used,
        notes=sum(data.live_notes.get(k, 0) for k in kols),
        seconds=round(time.monotonic() - started, 3),
    )
