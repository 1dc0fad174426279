"""Run tags that one part of pgy writes and another reads (alerts, the command line's summary).

Every tag has one encoder and one decoder, and nobody else formats or parses it:
- here: the trigger, the source and rate, the plan (PlanTags), the retry (RetryTags), the stop a
  run met (RunStop), the drift it met (DriftTag), what an interrupt left (interrupt_tags,
  decode_interrupt);
- defs/kol_tags.py: the failed KOLs (``pgy/failed_kols`` and its companions);
- ``pgy/kols`` in defs/partitions.py (kols_tag: for people, never parsed).
Plain strings, no Dagster import: the command line reads them without loading Dagster.
Tag names are what stored runs carry: renaming one loses the history's, so they stay.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pgy_pipeline.refresh.outcomes import ErrorKind, InterruptSummary, KolOutcome, KolStatus

TRIGGER_TAG = "pgy/trigger"  # what launched the run: cli, schedule, roster, retry
SOURCE_TAG = "pgy/source"  # the API the run called (settings.ApiSource.source_id)
RATE_TAG = "pgy/rate_limit_per_s"  # the calls per second the run's client allowed itself
API_CALLS_TAG = "pgy/api_calls"  # calls a failed run bought
# The failed KOLs of a run; their format is defs/kol_tags.py's (encode, decode), nobody else's.
FAILED_KOLS_TAG = "pgy/failed_kols"  # "user_id:code:reason,..." of the KOLs that failed
RETRYABLE_KOLS_TAG = "pgy/retryable_kols"  # "user_id,..." the retry sensor will re-launch
SCHEMA_DRIFT_TAG = "pgy/schema_drift"  # the drift a run met (DriftTag): one alert per drift
FAILED_BY_REASON_TAG = "pgy/failed_by_reason"  # "reason:count,..." over every failed KOL
# A run that SIGINT/SIGTERM or Terminate stopped: what it did (refresh.outcomes.InterruptSummary,
# as interrupt_tags encodes it).
INTERRUPTED_TAG = "pgy/interrupted"
# The stop a run met, written as the step ended on it (RunStop): StopAllCalls.stop_kind.
STOP_TAG = "pgy/stop"

# The plan of a refresh run (defs/assets/refresh_plan.py).
MODE_TAG = "pgy/mode"
DAY_TAG = "pgy/day"
PLAN_CALLS_TAG = "pgy/plan_calls"
PLAN_FULL_TAG = "pgy/plan_full_kols"
PLAN_INCREMENTAL_TAG = "pgy/plan_incremental_kols"
WAITING_KOLS_TAG = "pgy/waiting_kols"  # "user_id,..." over today's budget, cut whole at MAX_TAG_CHARS
# Tags show in the runs list and are filtered on: a few KB each keeps the UI usable (Dagster
# refuses a value over 4,096 characters). A cut list keeps whole entries.
MAX_TAG_CHARS = 4000

# A retry sensor's run (defs/sensors.py).
RETRY_ATTEMPT_TAG = "pgy/retry_attempt"
RETRY_EPISODE_TAG = "pgy/retry_episode"
RETRY_OF_CODE_TAG = "pgy/retry_of_code"


def source_tags(source_id: str, rate: float) -> dict[str, str]:
    return {SOURCE_TAG: source_id, RATE_TAG: f"{rate:g}"}


def cut_ids(ids: Sequence[str], limit: int = MAX_TAG_CHARS) -> str:
    """``ids`` joined by commas, as many whole ones as fit in ``limit`` characters."""
    text = ",".join(ids)
    if len(text) <= limit:
        return text
    return text[: limit + 1].rsplit(",", 1)[0]


@dataclass(frozen=True)
class PlanTags:
    """What a refresh run planned, for `pgy refresh`'s summary."""

    mode: str
    day: str  # YYYY-MM-DD
    calls: int
    full_kols: int
    incremental_kols: int
    waiting: tuple[str, ...] = ()  # over today's budget (the tag keeps as many as fit)

    def encode(self) -> dict[str, str]:
        tags = {
            MODE_TAG: self.mode,
            DAY_TAG: self.day,
            PLAN_CALLS_TAG: str(self.calls),
            PLAN_FULL_TAG: str(self.full_kols),
            PLAN_INCREMENTAL_TAG: str(self.incremental_kols),
        }
        if self.waiting:
            tags[WAITING_KOLS_TAG] = cut_ids(self.waiting)
        return tags

    @classmethod
    def decode(cls, tags: Mapping[str, str]) -> PlanTags | None:
        """None for a run that planned nothing (checks only, or failed before its plan)."""
        if not tags.get(PLAN_CALLS_TAG):
            return None
        waiting = tags.get(WAITING_KOLS_TAG)
        return cls(
            mode=tags.get(MODE_TAG, ""),
            day=tags.get(DAY_TAG, ""),
            calls=int(tags[PLAN_CALLS_TAG]),
            full_kols=int(tags.get(PLAN_FULL_TAG) or 0),
            incremental_kols=int(tags.get(PLAN_INCREMENTAL_TAG) or 0),
            waiting=tuple(waiting.split(",")) if waiting else (),
        )


@dataclass(frozen=True)
class RetryTags:
    """Which retry of which failure a retry sensor's run is."""

    attempt: int
    episode: int
    of_code: str  # the failure's API code, or its kind when it had none

    def encode(self) -> dict[str, str]:
        return {
            RETRY_ATTEMPT_TAG: str(self.attempt),
            RETRY_EPISODE_TAG: str(self.episode),
            RETRY_OF_CODE_TAG: self.of_code,
        }

    @classmethod
    def decode(cls, tags: Mapping[str, str]) -> RetryTags | None:
        if RETRY_ATTEMPT_TAG not in tags:
            return None
        return cls(int(tags[RETRY_ATTEMPT_TAG]), int(tags[RETRY_EPISODE_TAG]), tags[RETRY_OF_CODE_TAG])


# The stops that end a run's buying but are no refusal of the API's: drift (the code must learn a
# shape) and an interrupt (a person or the system asked). The others refuse every call.
_NOT_CALL_STOPS = frozenset({"schema", "interrupted"})


@dataclass(frozen=True)
class RunStop:
    """The stop a run met, by ``StopAllCalls.stop_kind``: token, quota, balance, budget, unbilled,
    schema (drift) or interrupted."""

    kind: str

    @classmethod
    def of(cls, outcomes: Sequence[KolOutcome]) -> RunStop | None:
        """The stop these outcomes met: a refusal of calls first (it concerns every KOL), then drift."""
        stopped = [o for o in outcomes if o.status == KolStatus.STOPPED and o.error_kind == ErrorKind.STOP]
        if stopped:
            first = next((o for o in stopped if o.error_code is not None), stopped[0])
            return cls(first.stop_kind or "other")
        if any(o.error_kind == ErrorKind.SCHEMA for o in outcomes):
            return cls("schema")
        return None

    @property
    def refuses_calls(self) -> bool:
        """True for a stop every KOL of the run met alike (token, quota, ...): no KOL is to blame."""
        return self.kind not in _NOT_CALL_STOPS

    def encode(self) -> dict[str, str]:
        return {STOP_TAG: self.kind}

    @classmethod
    def decode(cls, tags: Mapping[str, str]) -> RunStop | None:
        """None for a run that met no stop, or was stored before the tag (kol_tags names its stops)."""
        kind = tags.get(STOP_TAG)
        return cls(kind) if kind else None


def stop_tags(outcomes: Sequence[KolOutcome]) -> dict[str, str]:
    """The tag of the stop these outcomes met; none when they met none."""
    stop = RunStop.of(outcomes)
    return stop.encode() if stop else {}


@dataclass(frozen=True)
class DriftTag:
    """The drift a run met: its key (``justoneapi.Drift.key``) and its line, cut to fit a tag."""

    key: str
    detail: str

    MAX_DETAIL_CHARS = 1000  # well below Dagster's tag size limit

    def encode(self) -> dict[str, str]:
        text = json.dumps(
            {"key": self.key, "detail": self.detail[: self.MAX_DETAIL_CHARS]}, ensure_ascii=False
        )
        return {SCHEMA_DRIFT_TAG: text}

    @classmethod
    def decode(cls, tags: Mapping[str, str]) -> DriftTag | None:
        """None when absent or not one."""
        try:
            data = json.loads(tags.get(SCHEMA_DRIFT_TAG) or "")
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("key"), str):
            return None
        return cls(data["key"], str(data.get("detail") or ""))


def interrupt_tags(summary: InterruptSummary) -> dict[str, str]:
    """What an interrupted run did, and its stop."""
    text = json.dumps(dataclasses.asdict(summary), sort_keys=True)
    return {INTERRUPTED_TAG: text, **RunStop("interrupted").encode()}


def decode_interrupt(tags: Mapping[str, str]) -> InterruptSummary | None:
    text = tags.get(INTERRUPTED_TAG)
    return InterruptSummary(**json.loads(text)) if text else None
