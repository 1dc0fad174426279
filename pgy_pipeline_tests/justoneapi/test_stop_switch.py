"""The stop-all switch of a client (stop_switch.py): the first stop wins and every later call sees it."""

from __future__ import annotations

import threading

import pytest

from pgy_pipeline.justoneapi import BudgetExhausted, Drift, InvalidToken, SchemaDriftStop
from pgy_pipeline.justoneapi.drift import DRIFT_STOP_KOLS
from pgy_pipeline.justoneapi.stop_switch import StopSwitch


def test_the_first_stop_wins_and_later_pages_get_a_copy_of_it() -> None:
    switch = StopSwitch()
    assert switch.error_for("k", 1) is None
    switch.stop(InvalidToken("bad token", code=100))
    switch.stop(BudgetExhausted("spent"))
    error = switch.error_for("k", 4)
    assert isinstance(error, InvalidToken) and (error.user_id, error.page_number) == ("k", 4)
    assert isinstance(switch.stopped, InvalidToken)


def test_a_budget_that_says_no_before_a_call_stops_the_switch() -> None:
    switch = StopSwitch()

    def governor() -> None:
        raise BudgetExhausted("run budget spent")

    assert switch.gate("k", 1, None) is None
    error = switch.gate("k", 2, governor)
    assert isinstance(error, BudgetExhausted) and error.page_number == 2
    assert isinstance(switch.stopped, BudgetExhausted)


def test_drift_stops_at_the_kols_threshold_not_at_pages_of_one_kol() -> None:
    switch = StopSwitch()
    drift = Drift((("notes", "missing"),), "notes: missing")
    for _ in range(10):
        switch.drifted("same_kol", drift)
    assert switch.stopped is None
    for i in range(2, DRIFT_STOP_KOLS):  # same_kol is the first
        switch.drifted(f"kol{i}", drift)
        assert switch.stopped is None
    switch.drifted("the_last_kol", drift)
    assert isinstance(switch.stopped, SchemaDriftStop)


def test_a_stop_wakes_a_waiting_retry_at_once() -> None:
    switch = StopSwitch()
    threading.Timer(0.05, switch.stop, args=(BudgetExhausted("spent"),)).start()
    assert switch.wait(30.0) is True  # woken by the stop, not by the end of the 30 s


@pytest.mark.parametrize("quiet", [True, False])
def test_a_quiet_stop_logs_nothing(quiet: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="pgy_pipeline.justoneapi")
    StopSwitch().stop(BudgetExhausted("spent"), quiet=quiet)
    assert bool(caplog.records) is not quiet
