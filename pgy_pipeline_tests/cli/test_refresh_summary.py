"""`pgy refresh`'s summary tells a stop from failed KOLs by the run's tags, never by its message."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgy_pipeline.cli.refresh import _print_refresh_summary
from pgy_pipeline.cli.runner import RunSummary
from pgy_pipeline.defs import kol_tags
from pgy_pipeline.defs.kol_tags import FailedKol
from pgy_pipeline.defs.tags import RunStop

LISTED = "failed KOLs (user_id:code)"


def summary_of(tags: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> str:
    monkeypatch.setenv("PGY_DATA_DIR", str(tmp_path))  # no warehouse yet: the figures are zeros
    # A message worded as no version of failure_message words it: only the tags may decide.
    _print_refresh_summary([RunSummary("r1", "k1", "k2", False, "Something stopped", tags)])
    return capsys.readouterr().out


def failed(*entries: tuple[str, int | None, str]) -> dict[str, str]:
    return kol_tags.encode([FailedKol(*e) for e in entries])


def test_a_run_that_met_a_stop_lists_no_kol_as_failed(monkeypatch, tmp_path, capsys) -> None:
    tags = failed(("k1", 303, "stop-quota"), ("k2", None, "stop-quota")) | RunStop("quota").encode()
    assert LISTED not in summary_of(tags, monkeypatch, tmp_path, capsys)


def test_a_run_stored_before_the_stop_tag_is_told_by_its_failed_kols(monkeypatch, tmp_path, capsys) -> None:
    tags = failed(("k1", 100, "stop-token"), ("k2", None, "stop-token"))
    assert LISTED not in summary_of(tags, monkeypatch, tmp_path, capsys)


def test_failed_kols_are_listed(monkeypatch, tmp_path, capsys) -> None:
    out = summary_of(failed(("k1", 301, "retry")), monkeypatch, tmp_path, capsys)
    assert f"{LISTED}: k1:301" in out


def test_the_kols_of_a_drift_are_listed(monkeypatch, tmp_path, capsys) -> None:
    tags = failed(("k1", None, "schema")) | RunStop("schema").encode()
    assert f"{LISTED}: k1:schema" in summary_of(tags, monkeypatch, tmp_path, capsys)
