"""The refresh core without Dagster: a Refresher with a client factory over loopback HTTP."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pgy_pipeline.justoneapi import CallRecord, NotesDetailClient
from pgy_pipeline.refresh import KolStatus, Refresher, engine
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


def make_refresher(sim: Simulator, data: Path, **kw: Any) -> Refresher:
    @contextlib.contextmanager
    def factory(observer: Callable[[CallRecord], None]) -> Iterator[NotesDetailClient]:
        with NotesDetailClient(fast_config(sim.base_url), observer=observer) as client:
            yield client

    return Refresher(
        client_factory=factory,
        warehouse=Warehouse(data, publish_interval_s=0.0),
        raw=RawStore(data),
        state=PipelineState(data),
        run_id="run-test",
        kol_workers=2,
        **kw,
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
    real = engine.write_fetches

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(engine, "write_fetches", broken)
    first = make_refresher(sim, tmp_path).refresh(KOLS[:1])
    assert first[0].status == KolStatus.FAILED
    raw = RawStore(tmp_path)
    assert list(raw.iter_done_fetches()) == []  # not sealed
    paid = sim.counters().calls_total

    monkeypatch.setattr(engine, "write_fetches", real)
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
