"""Each run tag's codec: what is encoded decodes the same (defs/tags.py names where each lives)."""

from __future__ import annotations

from pgy_pipeline.alerts.drift import drift_tag, parse_drift_tag
from pgy_pipeline.defs.tags import (
    MAX_TAG_CHARS,
    RATE_TAG,
    SOURCE_TAG,
    WAITING_KOLS_TAG,
    PlanTags,
    RetryTags,
    cut_ids,
    source_tags,
)
from pgy_pipeline.refresh.outcomes import InterruptSummary


def test_the_plan_round_trips() -> None:
    plan = PlanTags("auto", "2026-12-04", 120, 3, 40, ("kol_a", "kol_b"))
    assert PlanTags.decode(plan.encode()) == plan
    bare = PlanTags("full", "2026-12-04", 0, 0, 0)
    assert WAITING_KOLS_TAG not in bare.encode() and PlanTags.decode(bare.encode()) == bare


def test_a_run_without_a_plan_decodes_to_none() -> None:
    assert PlanTags.decode({}) is None and PlanTags.decode({"pgy/trigger": "cli"}) is None


def test_a_long_waiting_list_keeps_whole_ids_within_the_limit() -> None:
    ids = tuple(f"5f{i:022x}" for i in range(500))
    waiting = PlanTags.decode(PlanTags("auto", "2026-12-04", 1, 1, 0, ids).encode())
    assert waiting is not None
    assert 0 < len(waiting.waiting) < len(ids) and waiting.waiting == ids[: len(waiting.waiting)]
    assert len(cut_ids(ids)) <= MAX_TAG_CHARS and cut_ids(ids[:3]) == ",".join(ids[:3])


def test_the_retry_round_trips() -> None:
    retry = RetryTags(attempt=3, episode=2, of_code="301")
    assert RetryTags.decode(retry.encode()) == retry
    assert RetryTags.decode({}) is None


def test_source_and_rate_say_the_rate_as_given() -> None:
    assert source_tags("sim", 250.0) == {SOURCE_TAG: "sim", RATE_TAG: "250"}
    assert source_tags("api", 12.5)[RATE_TAG] == "12.5"


def test_the_drift_round_trips() -> None:
    assert parse_drift_tag(drift_tag("notes.readNum:type", "readNum: int -> str")) == (
        "notes.readNum:type",
        "readNum: int -> str",
    )
    assert parse_drift_tag(None) is None and parse_drift_tag("not json") is None


def test_the_interrupt_summary_round_trips() -> None:
    summary = InterruptSummary("SIGTERM", calls=12, written=3, unwritten=1, partial=2, not_started=4)
    assert InterruptSummary.from_tag(summary.to_tag()) == summary
