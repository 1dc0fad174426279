"""The run tags that list a run's failed KOLs: one encoder, one decoder.

The refresh step writes them; the alert sensor and `pgy refresh` read them. No Dagster import,
so the command line reads them without loading Dagster.

- ``pgy/failed_kols``: ``user_id:code:reason,...``. ``code`` is the vendor's business code, empty
  when no answer carried one; ``reason`` is what the failure asks for (``refresh.ErrorKind``:
  retry, slow_down, rejected, internal...), and for a stop ``stop-<which>`` (stop-quota,
  stop-balance, stop-token, stop-budget: ``StopAllCalls.stop_kind``), recorded when the run met it.
- ``pgy/retryable_kols``: ``user_id,...``, the KOLs the retry sensor re-launches.
- ``pgy/failed_by_reason``: ``reason:count,...`` over every failed KOL, never cut (a few kinds).

A list tag holds whole entries, up to ``MAX_TAG_CHARS``; a last entry ``+N more`` counts the ones
left out. User ids are ASCII letters, digits, '_' and '-' (``roster.check_user_id``), so neither
',' nor ':' nor a leading '+' occurs in one. The whole list, never cut, is the step failure's
metadata ``failed_kols_all`` (``encode_failed(..., limit=None)``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pgy_pipeline.defs.tags import FAILED_BY_REASON_TAG, FAILED_KOLS_TAG, MAX_TAG_CHARS, RETRYABLE_KOLS_TAG
from pgy_pipeline.refresh.outcomes import RETRIED_KINDS, ErrorKind, KolOutcome

_STOP = f"{ErrorKind.STOP.value}-"


@dataclass(frozen=True, slots=True)
class FailedKol:
    """One failed KOL as the run's tags carry it."""

    user_id: str
    code: int | None
    reason: str  # an ErrorKind value, or "stop-<which>"; "" when an entry did not say

    @classmethod
    def of(cls, outcome: KolOutcome) -> FailedKol:
        kind = outcome.error_kind.value if outcome.error_kind else ""
        if outcome.error_kind == ErrorKind.STOP:
            kind = f"{_STOP}{outcome.stop_kind or 'unknown'}"
        return cls(outcome.user_id, outcome.error_code, kind)

    @property
    def stop(self) -> str | None:
        """Which stop refused this KOL (quota, balance, token, budget), or None."""
        return _stop(self.reason)

    @property
    def retryable(self) -> bool:
        return self.reason in RETRIED_KINDS

    @property
    def code_or_reason(self) -> str:
        return str(self.code) if self.code is not None else self.reason


@dataclass(frozen=True, slots=True)
class RunKols:
    """What a run's tags say about its failed KOLs."""

    failed: tuple[FailedKol, ...] = ()
    failed_more: int = 0  # failed KOLs left out of the tag
    retryable: tuple[str, ...] = ()
    retryable_more: int = 0
    by_reason: Mapping[str, int] | None = None  # every failed KOL by reason (None: not recorded)

    @property
    def failed_count(self) -> int:
        return len(self.failed) + self.failed_more

    @property
    def stop_counts(self) -> dict[str, int]:
        """Failed KOLs by the stop that refused them (quota, balance, token, budget)."""
        return {stop: n for r, n in self.reason_counts.items() if (stop := _stop(r)) is not None}

    @property
    def retryable_count(self) -> int:
        return sum(n for r, n in self.reason_counts.items() if r in RETRIED_KINDS)

    @property
    def rejected_count(self) -> int:
        """Failed KOLs neither retried nor stopped: rejected, or failed outside the API."""
        return sum(
            n for r, n in self.reason_counts.items() if r and r not in RETRIED_KINDS and _stop(r) is None
        )

    @property
    def reason_counts(self) -> Mapping[str, int]:
        """Every failed KOL by reason (an ErrorKind value, or stop-<which>)."""
        # Tags written before the counts were: the named KOLs are all there is to count.
        return self.by_reason if self.by_reason is not None else Counter(f.reason for f in self.failed)


def encode(failed: Sequence[FailedKol], limit: int | None = MAX_TAG_CHARS) -> dict[str, str]:
    """The tags of a run whose KOLs ``failed``."""
    reasons = Counter(f.reason for f in failed)
    return {
        FAILED_KOLS_TAG: encode_failed(failed, limit),
        RETRYABLE_KOLS_TAG: _join([f.user_id for f in failed if f.retryable], limit),
        FAILED_BY_REASON_TAG: ",".join(f"{r}:{n}" for r, n in sorted(reasons.items())),
    }


def encode_failed(failed: Sequence[FailedKol], limit: int | None = MAX_TAG_CHARS) -> str:
    return _join([f"{f.user_id}:{'' if f.code is None else f.code}:{f.reason}" for f in failed], limit)


def decode(tags: Mapping[str, str]) -> RunKols:
    """The failed KOLs a run's tags name; an absent tag reads as no KOL."""
    failed_entries, failed_more = _split(tags.get(FAILED_KOLS_TAG))
    retryable, retryable_more = _split(tags.get(RETRYABLE_KOLS_TAG))
    by_reason = tags.get(FAILED_BY_REASON_TAG)
    return RunKols(
        tuple(_failed(e) for e in failed_entries),
        failed_more,
        tuple(retryable),
        retryable_more,
        None
        if by_reason is None
        else {r: int(n) for r, _, n in (e.rpartition(":") for e in _items(by_reason))},
    )


def _stop(reason: str) -> str | None:
    return reason.removeprefix(_STOP) if reason.startswith(_STOP) else None


def _failed(entry: str) -> FailedKol:
    user_id, _, rest = entry.partition(":")
    code, _, reason = rest.partition(":")
    if not reason and not code.isdigit():  # "user_id:reason", as tags were before the codes split
        code, reason = "", code
    return FailedKol(user_id, int(code) if code.isdigit() else None, reason)


def _join(entries: Sequence[str], limit: int | None) -> str:
    """Whole entries that fit in ``limit`` characters with room for the marker, then ``+N more``."""
    text = ",".join(entries)
    if limit is None or len(text) <= limit:
        return text
    marker_room = len(f",+{len(entries)} more")
    kept, used = 0, 0
    for entry in entries:
        cost = len(entry) + (1 if kept else 0)
        if used + cost + marker_room > limit:
            break
        kept, used = kept + 1, used + cost
    return ",".join([*entries[:kept], f"+{len(entries) - kept} more"])


def _items(text: str | None) -> list[str]:
    return [e.strip() for e in (text or "").split(",") if e.strip()]


def _split(text: str | None) -> tuple[list[str], int]:
    entries, more = [], 0
    for entry in _items(text):
        if entry.startswith("+") and entry.endswith(" more"):
            more += int(entry[1 : -len(" more")])
        else:
            entries.append(entry)
    return entries, more
