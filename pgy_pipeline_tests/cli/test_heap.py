"""The collector is off while a command loads the pipeline, and on again after, whatever happens."""

from __future__ import annotations

import gc

import pytest

from pgy_pipeline.cli import heap


@pytest.fixture
def collector():
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_loading_collects_nothing_inside_and_freezes_what_it_loaded(collector):
    gc.enable()
    gc.unfreeze()
    with heap.loading():
        assert not gc.isenabled()
        loaded = [[i] for i in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(loaded)


def test_the_collector_is_back_on_after_a_load_that_failed(collector):
    gc.enable()
    with pytest.raises(RuntimeError), heap.loading():
        raise RuntimeError("the instance could not be opened")
    assert gc.isenabled()


def test_loading_leaves_a_disabled_collector_disabled(collector):
    gc.disable()
    with heap.loading():
        pass
    assert not gc.isenabled()
