"""Grouped durability in the raw layer (RawStore.syncing): fewer fsyncs, pages still durable first."""

from __future__ import annotations

import os

import pytest

from pgy_pipeline.warehouse import raw as raw_module
from pgy_pipeline.warehouse.raw import RawPage, RawStore


@pytest.fixture
def fsyncs(monkeypatch) -> list[str]:
    """The fsync'd files' names, in order (the warehouse conftest turns fsync off: counted here)."""
    done: list[str] = []
    monkeypatch.setattr(
        os, "fsync", lambda fd: done.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
    )
    return done


def _page(fetch_id: str, n: int) -> RawPage:
    return RawPage(
        fetch_id, "kol_a", n, {"page": n}, "2026-03-08T04:00:00+00:00", "r", 200, 0, None, None, 1, 0.1, "{}"
    )


def test_a_page_outside_a_sync_block_is_fsynced_at_once(tmp_path, fsyncs):
    raw = RawStore(tmp_path)
    fetch_id = raw.begin("kol_a", "fp", {}, "r")
    fsyncs.clear()  # the meta file's
    raw.append(_page(fetch_id, 1))
    assert fsyncs == [f"{fetch_id}.jsonl"]


def test_pages_in_a_sync_block_are_fsynced_once_when_it_ends(tmp_path, fsyncs):
    raw = RawStore(tmp_path)
    fetch_id = raw.begin("kol_a", "fp", {}, "r")
    fsyncs.clear()
    with raw.syncing("kol_a", fetch_id):
        for n in range(1, 6):
            raw.append(_page(fetch_id, n))
        assert fsyncs == []  # written (a process crash keeps them), not yet fsync'd
    assert fsyncs == [f"{fetch_id}.jsonl"]  # one fsync for five pages, before the block returns
    assert sorted(raw.pages("kol_a", fetch_id)) == [1, 2, 3, 4, 5]


def test_a_sync_block_that_fails_still_fsyncs_its_pages(tmp_path, fsyncs):
    raw = RawStore(tmp_path)
    fetch_id = raw.begin("kol_a", "fp", {}, "r")
    fsyncs.clear()
    with pytest.raises(RuntimeError), raw.syncing("kol_a", fetch_id):
        raw.append(_page(fetch_id, 1))
        raise RuntimeError("the fetch failed at page 2")
    assert fsyncs == [f"{fetch_id}.jsonl"]  # page 1 is kept for the resume, durably


def test_a_long_fetch_is_fsynced_every_group_of_pages(tmp_path, fsyncs, monkeypatch):
    monkeypatch.setattr(raw_module, "SYNC_EVERY_PAGES", 4)
    raw = RawStore(tmp_path)
    fetch_id = raw.begin("kol_a", "fp", {}, "r")
    fsyncs.clear()
    with raw.syncing("kol_a", fetch_id):
        for n in range(1, 11):
            raw.append(_page(fetch_id, n))
        assert len(fsyncs) == 2  # after pages 4 and 8
    assert len(fsyncs) == 3  # pages 9 and 10 at the end


def test_seals_written_side_by_side_are_each_fsynced_and_readable(tmp_path, fsyncs):
    raw = RawStore(tmp_path)
    fetches = [(f"kol_{i}", raw.begin(f"kol_{i}", "fp", {}, "r")) for i in range(20)]
    fsyncs.clear()
    raw.mark_done_many([(u, f, {"user_id": u, "n": i}) for i, (u, f) in enumerate(fetches)])
    assert len(fsyncs) == 20 and all(".done.json." in name for name in fsyncs)  # one each, before its rename
    for i, (u, f) in enumerate(fetches):
        assert raw.is_done(u, f) and raw.done_summary(u, f) == {"user_id": u, "n": i}


def test_a_seal_that_fails_among_many_is_raised(tmp_path, monkeypatch):
    raw = RawStore(tmp_path)
    fetches = [(f"kol_{i}", raw.begin(f"kol_{i}", "fp", {}, "r")) for i in range(5)]
    real = raw_module._write_atomic

    def write(path, text):
        if "kol_3" in str(path):
            raise OSError("disk full")
        real(path, text)

    monkeypatch.setattr(raw_module, "_write_atomic", write)
    with pytest.raises(OSError, match="disk full"):
        raw.mark_done_many([(u, f, {}) for u, f in fetches])
    assert not raw.is_done("kol_3", fetches[3][1])
