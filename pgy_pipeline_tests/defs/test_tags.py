"""Each run tag's codec: what is encoded decodes the same (defs/tags.py names where each lives)."""

from __future__ import annotations

import pytest

from pgy_pipeline.defs.tags import (
    INTERRUPTED_TAG,
    MAX_TAG_CHARS,
    RATE_TAG,
    SCHEMA_DRIFT_TAG,
    SOURCE_TAG,
    STOP_TAG,
    WAITING_KOLS_TAG,
    DriftTag,
    PlanTags,
    RetryTags,
    RunStop,
    cut_ids,
    decode_interrupt,
    interrupt_tags,
    source_tags,
    stop_tags,
)
from pgy_pipeline.refresh.outcomes import ErrorKind, InterruptSummary, KolOutcome, KolStatus


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
    drift = DriftTag("notes.readNum:type", "readNum: int -> str")
    assert DriftTag.decode(drift.encode()) == drift
    assert DriftTag.decode({}) is None and DriftTag.decode({SCHEMA_DRIFT_TAG: "not json"}) is None
    assert len(DriftTag("k", "x" * 5000).encode()[SCHEMA_DRIFT_TAG]) < 1100


def test_a_drift_tag_stored_by_an_earlier_version_still_reads() -> None:
    stored = {SCHEMA_DRIFT_TAG: '{"key": "notes.readNum:type", "detail": "readNum: int -> str"}'}
    assert DriftTag.decode(stored) == DriftTag("notes.readNum:type", "readNum: int -> str")


def test_the_interrupt_summary_round_trips_with_its_stop() -> None:
    summary = InterruptSummary("SIGTERM", calls=12, written=3, unwritten=1, partial=2, not_started=4)
    tags = interrupt_tags(summary)
    assert decode_interrupt(tags) == summary and RunStop.decode(tags) == RunStop("interrupted")
    assert decode_interrupt({}) is None


def test_an_interrupt_tag_stored_by_an_earlier_version_still_reads() -> None:
    stored = '{"calls": 12, "not_started": 4, "partial": 2, "signal": "SIGINT", "unwritten": 1, "written": 3}'
    assert decode_interrupt({INTERRUPTED_TAG: stored}) == InterruptSummary("SIGINT", 12, 3, 1, 2, 4)


@pytest.mark.parametrize("kind", ["token", "quota", "balance", "budget", "unbilled", "schema", "interrupted"])
def test_the_stop_round_trips(kind: str) -> None:
    stop = RunStop(kind)
    assert RunStop.decode(stop.encode()) == stop
    assert stop.refuses_calls == (kind not in ("schema", "interrupted"))


def test_a_run_stored_before_the_stop_tag_has_none() -> None:
    assert RunStop.decode({"pgy/failed_kols": "k1:303:stop-quota"}) is None


def _stopped(user_id: str, kind: ErrorKind, stop: str | None = None, code: int | None = None) -> KolOutcome:
    status = KolStatus.STOPPED if kind in (ErrorKind.STOP, ErrorKind.SCHEMA) else KolStatus.FAILED
    return KolOutcome(user_id, status, error_kind=kind, error_code=code, stop_kind=stop)


def test_the_stop_of_a_run_is_the_refusal_of_calls_before_drift() -> None:
    refused = [_stopped("a", ErrorKind.STOP, "budget"), _stopped("b", ErrorKind.STOP, "quota", code=303)]
    drifted = [_stopped("c", ErrorKind.SCHEMA)]
    assert stop_tags(drifted + refused) == {STOP_TAG: "quota"}  # the KOL that met it carries the code
    assert stop_tags(drifted) == {STOP_TAG: "schema"}
    assert stop_tags([_stopped("d", ErrorKind.RETRY)]) == {}
