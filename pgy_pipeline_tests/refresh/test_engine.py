"""The refresh core without Dagster: a Refresher with a client factory over loopback HTTP."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pgy_pipeline.interrupts import Interrupt
from pgy_pipeline.justoneapi import CallRecord, NotesDetailClient
from pgy_pipeline.refresh import KolOutcome, KolStatus, Refresher, landing
from pgy_pipeline.refresh.handoff import CallLedger
from pgy_pipeline.refresh.landing import Lander
from pgy_pipeline.refresh.outcomes import InterruptSummary
from pgy_pipeline.refresh.parts import ConfigClient, RefreshSettings, Stores
from pgy_pipeline.simulator import Simulator
from pgy_pipeline.warehouse import Warehouse
from pgy_pipeline.warehouse.raw import RawStore
from pgy_pipeline.warehouse.state import PipelineState
from pgy_pipeline_tests.justoneapi.helpers import fast_config
from pgy_pipeline_tests.support import ANCHOR, expected_frame, stored_frame

KOLS = ["5a1b2c3d4e5f60718293a4b5", "5a1b2c3d4e5f60718293a4b6", "5a1b2c3d4e5f60718293a4b7"]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator("clean", seed=7, anchor_date=ANCHOR) as s:
        yield s


def make_refresher(
    sim: Simulator, data: Path, on_outcome: Callable[[KolOutcome], None] | None = None, **how: Any
) -> Refresher:
    return Refresher(
        ConfigClient(fast_config(sim.base_url)),
        Stores(Warehouse(data, publish_interval_s=0.0), RawStore(data), PipelineState(data)),
        RefreshSettings(kol_workers=2, **how),
        "run-test",
        on_outcome,
    )


def test_a_refresh_stores_exactly_the_apis_notes_and_reports_each_kol(sim: Simulator, tmp_path: Path) -> None:
    seen: list[str] = []
    refresher = make_refresher(sim, tmp_path, on_outcome=lambda o: seen.append(o.user_id))
    outcomes = refresher.refresh(KOLS)
    assert [o.status for o in outcomes] == [KolStatus.OK] * 3
    assert sorted(seen) == sorted(KOLS)
    with Warehouse(tmp_path).connect_snapshot() as conn:
        for user in KOLS:
            assert stored_frame(conn, user) == expected_frame(sim, user)
    assert all(o.calls == o.pages for o in outcomes)  # clean profile: one call per page


def test_a_kol_refreshed_recently_is_skipped_and_costs_nothing(sim: Simulator, tmp_path: Path) -> None:
    make_refresher(sim, tmp_path).refresh(KOLS[:1])
    calls_before = sim.counters().calls_total
    again = make_refresher(sim, tmp_path, fresh_for=timedelta(hours=1)).refresh(KOLS[:1])
    assert again[0].status == KolStatus.SKIPPED
    assert sim.counters().calls_total == calls_before


def test_a_fetch_is_sealed_only_after_duckdb_has_its_notes(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash (here: a failed write) between fetching and writing must not lose the notes.

    If the raw fetch were sealed before the write, the next run would see a completed fetch,
    skip it as fresh, and the notes would never reach DuckDB.
    """
    real = landing.write_fetches

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(landing, "write_fetches", broken)
    first = make_refresher(sim, tmp_path).refresh(KOLS[:1])
    assert first[0].status == KolStatus.FAILED
    raw = RawStore(tmp_path)
    assert list(raw.iter_done_fetches()) == []  # not sealed
    paid = sim.counters().calls_total

    monkeypatch.setattr(landing, "write_fetches", real)
    second = make_refresher(sim, tmp_path, fresh_for=timedelta(hours=1)).refresh(KOLS[:1])
    assert second[0].status == KolStatus.OK
    assert second[0].pages_reused == second[0].pages  # resumed from the stored pages
    assert sim.counters().calls_total == paid  # nothing bought twice
    with Warehouse(tmp_path).connect_snapshot() as conn:
        assert stored_frame(conn, KOLS[0]) == expected_frame(sim, KOLS[0])


def _block_publishing(data: Path) -> Path:
    """A directory where a publish writes its temporary copy: every publish fails, as on a full disk."""
    blocker = data / f".pgy.duckdb.{os.getpid()}.tmp"
    blocker.mkdir(parents=True)
    (blocker / "in-the-way").write_text("", encoding="utf-8")
    return blocker


def test_a_publish_that_fails_after_the_commit_fails_no_kol(sim: Simulator, tmp_path: Path) -> None:
    Warehouse(tmp_path).ensure()  # readers have a (still empty) snapshot
    blocker = _block_publishing(tmp_path)
    refresher = make_refresher(sim, tmp_path)
    outcomes = refresher.refresh(KOLS)
    # Committed is stored: no KOL failed, every fetch sealed, nothing queued for a retry.
    assert [o.status for o in outcomes] == [KolStatus.OK] * 3
    assert sorted(u for u, _ in RawStore(tmp_path).iter_done_fetches()) == sorted(KOLS)
    assert PipelineState(tmp_path).failures() == []
    assert refresher.publish_error is not None and "pgy.duckdb was not published" in refresher.publish_error
    with Warehouse(tmp_path).connect_snapshot() as conn:
        assert stored_frame(conn, KOLS[0]) == []  # readers see the previous snapshot meanwhile
    shutil.rmtree(blocker)
    Warehouse(tmp_path).publish()  # the next publish carries everything
    with Warehouse(tmp_path).connect_snapshot() as conn:
        for user in KOLS:
            assert stored_frame(conn, user) == expected_frame(sim, user)


@pytest.mark.parametrize("unlanded_max", [256, 2])  # every KOL handed to the workers at once, or 2
def test_an_interrupt_stops_the_calls_writes_what_is_complete_and_begins_no_other_kol(
    tmp_path: Path, unlanded_max: int
) -> None:
    """The switch a SIGINT flips (interrupts.stopping()), flipped here after the 4th call: the
    calls in flight finish, no other starts, complete KOLs are written, the rest are INTERRUPTED
    (also those never handed to a worker)."""
    kols = [f"k{i:02d}" for i in range(8)]
    interrupt = Interrupt()
    with Simulator("clean", seed=3, as_of=ANCHOR, fixed_counts=dict.fromkeys(kols, 20)) as sim:
        seen: list[int] = []

        class Opener:
            """Flips the interrupt at the 4th call, after the ledger has it."""

            def open(self, ledger: CallLedger) -> NotesDetailClient:
                def count(record: CallRecord) -> None:
                    ledger(record)
                    seen.append(sim.counters().calls_total)
                    if len(seen) == 4:
                        interrupt.request(signal.SIGINT)

                return NotesDetailClient(fast_config(sim.base_url, page_workers=2), observer=count)

        refresher = Refresher(
            Opener(),
            Stores(Warehouse(tmp_path), RawStore(tmp_path), PipelineState(tmp_path)),
            RefreshSettings(kol_workers=2, unlanded_max=unlanded_max),
            "run",
            interrupt=interrupt,
        )
        outcomes = refresher.refresh(kols)
        # At most the other calls in flight (2 KOLs x 2 pages) were answered after the 4th.
        assert (
            4 <= sim.counters().calls_total <= 4 + 3 and refresher.ledger.total == sim.counters().calls_total
        )
        summary = InterruptSummary.of("SIGINT", outcomes, refresher.ledger.total)
        assert (
            summary.written + summary.partial + summary.not_started == len(kols) and summary.not_started >= 4
        )
        assert {o.status for o in outcomes} <= {KolStatus.OK, KolStatus.INTERRUPTED}
        with Warehouse(tmp_path).connect_snapshot() as conn:
            assert conn.execute("SELECT count(*) FROM api_calls").fetchone() == (summary.calls,)
            for o in outcomes:
                if o.status == KolStatus.OK:
                    assert stored_frame(conn, o.user_id) == expected_frame(sim, o.user_id)


def test_a_write_interrupted_during_a_commit_that_landed_records_each_call_once(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal during COMMIT can cancel the statement after DuckDB committed: the engine then
    writes the batch again. The notes are idempotent; the spend ledger must be too."""
    from pgy_pipeline.warehouse import WriteInterrupted

    real = landing.write_fetches
    first = [True]

    def committed_then_interrupted(*args: Any, **kwargs: Any) -> Any:
        stats = real(*args, **kwargs)
        if first[0]:
            first[0] = False
            # As if the COMMIT had landed and the interrupt came back with it.
            args[0].execute("COMMIT")
            args[0].execute("BEGIN TRANSACTION")
            raise WriteInterrupted("interrupted: the transaction was rolled back")
        return stats

    monkeypatch.setattr(landing, "write_fetches", committed_then_interrupted)
    refresher = make_refresher(sim, tmp_path)
    (outcome,) = refresher.refresh(KOLS[:1])
    assert outcome.status == KolStatus.OK
    with Warehouse(tmp_path).connect_snapshot() as conn:
        (calls,) = conn.execute("SELECT count(*) FROM api_calls").fetchone()
        assert stored_frame(conn, KOLS[0]) == expected_frame(sim, KOLS[0])
    assert calls == sim.counters().calls_total == refresher.ledger.total


def test_each_fetch_is_fsynced_once_before_duckdb_gets_its_rows(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grouped durability: one fsync per KOL fetch, not per page, and always before the write."""
    events: list[tuple[str, str]] = []
    real_write = landing.write_fetches

    def fsync(fd: int) -> None:
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))

    def write(conn: Any, rows: Any, files: list[Path], *a: Any, **kw: Any) -> Any:
        events.extend(("write", f.name) for f in files)
        return real_write(conn, rows, files, *a, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(landing, "write_fetches", write)
    outcomes = make_refresher(sim, tmp_path).refresh(KOLS)
    assert sum(o.pages for o in outcomes) > len(KOLS)  # several pages per KOL: grouping shows
    written = [name for kind, name in events if kind == "write"]
    assert len(written) == len(KOLS)
    for name in written:
        page_syncs = [i for i, e in enumerate(events) if e == ("fsync", name)]
        assert len(page_syncs) == 1 and page_syncs[0] < events.index(("write", name))


def test_a_written_kols_pages_are_let_go_so_memory_does_not_grow_with_the_roster(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each KOL's fetched pages are freed once its batch is written: a roster ten times larger must
    not need ten times the memory (done futures kept for the whole run held every KOL's pages)."""
    import gc

    from pgy_pipeline.refresh.handoff import Fetched

    users = [f"5a1b2c3d4e5f60718293{i:04x}" for i in range(16)]
    sim.update(latency_s=0.02)  # KOLs land a few at a time, as against an API at its rate
    writing: set[str] = set()  # the KOLs of the batch being written now
    reported: set[str] = set()
    kept: list[set[str]] = []
    store = Lander.land

    def spy_store(self: Lander, batch: list[Fetched], again: bool = True) -> list[KolOutcome]:
        writing.clear()
        writing.update(f.query.user_id for f in batch)
        return store(self, batch, again)

    def look(outcome: KolOutcome) -> None:
        reported.add(outcome.user_id)
        gc.collect()
        alive = {o.query.user_id for o in gc.get_objects() if isinstance(o, Fetched)}
        kept.append(alive & reported - writing)

    monkeypatch.setattr(Lander, "land", spy_store)
    outcomes = make_refresher(sim, tmp_path, on_outcome=look).refresh(users)
    assert [o.status for o in outcomes] == [KolStatus.OK] * len(users)
    assert len(kept) == len(users)
    assert all(not k for k in kept), [sorted(k) for k in kept]  # no earlier batch is still held


def test_the_fetch_runs_at_most_unlanded_max_kols_ahead_of_the_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a slow writer (no rate limit, KOLs of one page), the workers begin a KOL only while
    fewer than ``unlanded_max`` are begun and not yet written: the fetch waits for the writing
    instead of leaving it a backlog to work through after the last call."""
    import threading
    import time

    from pgy_pipeline.refresh.engine import KolFetcher
    from pgy_pipeline.refresh.handoff import Fetched

    kols = [f"k{i:02d}" for i in range(12)]
    lock = threading.Lock()
    begun: list[str] = []
    landed: list[str] = []
    ahead: list[int] = []  # at each KOL's start: KOLs begun and not yet written, this one included
    fetch, store = KolFetcher.__call__, Lander.land

    def spy_fetch(self: KolFetcher, client: Any, query: Any, stop_before: Any) -> Fetched | None:
        with lock:
            begun.append(query.user_id)
            ahead.append(len(begun) - len(landed))
        return fetch(self, client, query, stop_before)

    def slow_store(self: Lander, batch: list[Fetched], again: bool = True) -> list[KolOutcome]:
        time.sleep(0.02)  # the writing thread is the bottleneck
        outcomes = store(self, batch, again)
        with lock:
            landed.extend(f.query.user_id for f in batch)
        return outcomes

    monkeypatch.setattr(KolFetcher, "__call__", spy_fetch)
    monkeypatch.setattr(Lander, "land", slow_store)
    with Simulator("clean", seed=3, as_of=ANCHOR, fixed_counts=dict.fromkeys(kols, 3)) as sim:
        outcomes = make_refresher(sim, tmp_path, unlanded_max=3).refresh(kols)
        assert [o.status for o in outcomes] == [KolStatus.OK] * len(kols)
        assert sorted(begun) == sorted(landed) == kols
        assert max(ahead) <= 3, ahead
        with Warehouse(tmp_path).connect_snapshot() as conn:
            for user in kols:
                assert stored_frame(conn, user) == expected_frame(sim, user)


def test_kols_that_all_failed_before_any_fetch_row_keep_their_own_error(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk under the raw layer: every KOL of every batch fails before it has a row to write.
    def disk_full(self: RawStore, page: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RawStore, "append", disk_full)
    outcomes = make_refresher(sim, tmp_path).refresh(KOLS)

    assert [o.status for o in outcomes] == [KolStatus.FAILED] * 3
    messages = [o.message or "" for o in outcomes]
    assert all("No space left on device" in m for m in messages), messages
    assert not [m for m in messages if "DuckDB" in m], messages  # not hidden behind a write of nothing
    # The pages they bought are in the spend ledger, though nothing else of theirs could be kept.
    with Warehouse(tmp_path).connect_snapshot() as conn:
        ledger = conn.execute(
            "SELECT user_id, count(*), count(fetch_id) FROM api_calls GROUP BY ALL"
        ).fetchall()
    bought = sim.counters().calls_total
    assert bought >= 1 and sum(n for _, n, _ in ledger) == sum(o.calls for o in outcomes) == bought, ledger
    assert sorted(u for u, _, _ in ledger) == sorted(o.user_id for o in outcomes if o.calls)
    assert not [f for _, _, f in ledger if f]


def test_an_error_every_kol_meets_outside_the_api_is_logged_with_its_traceback_once(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def disk_full(self: RawStore, *args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RawStore, "begin", disk_full)
    with caplog.at_level("ERROR", logger="pgy_pipeline.refresh.engine"):
        outcomes = make_refresher(sim, tmp_path).refresh(KOLS)

    assert [o.status for o in outcomes] == [KolStatus.FAILED] * 3 and sim.counters().calls_total == 0
    records = [r for r in caplog.records if r.name == "pgy_pipeline.refresh.engine"]
    assert sorted(k for r in records for k in KOLS if k in r.getMessage()) == sorted(KOLS)  # a line each
    assert [r.exc_info is not None for r in records].count(True) == 1
    assert all("No space left on device" in r.getMessage() for r in records if r.exc_info is None)


def test_once_the_raw_layers_disk_is_full_no_other_kol_buys_a_page(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Room for a fetch's small meta file, none for a page: each KOL would buy pages it cannot keep.
    def disk_full(self: RawStore, page: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RawStore, "append", disk_full)
    kols = [f"5a1b2c3d4e5f6071829{i:05x}" for i in range(20)]
    outcomes = make_refresher(sim, tmp_path).refresh(kols)

    assert [o.status for o in outcomes] == [KolStatus.FAILED] * len(kols)
    bought = [o for o in outcomes if o.calls]
    # Only the KOLs already fetching when the disk filled (two workers) bought a page.
    assert 1 <= len(bought) <= 2 and sim.counters().calls_total == sum(o.calls for o in outcomes)
    unbought = [o.message or "" for o in outcomes if not o.calls]
    assert all("No space left on device" in m and "nothing bought" in m for m in unbought), unbought
