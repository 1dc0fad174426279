"""Drift: an answer that breaks the data contract (contract.py) as a whole, not one bad value.

A page drifts when
- its code-0 envelope has no ``data.list`` array (renamed, moved, ``data`` not an object), or
- on a page of at least ``DRIFT_MIN_NOTES`` notes, a field of the contract is missing on more than
  ``DRIFT_SHARE`` of them (a rename, metrics moved into an object) or present but unreadable on more
  than ``DRIFT_SHARE`` (a type or format that changed: dates as epoch milliseconds).

A null is data, however many (the ``notes`` check watches null shares against each KOL's history). A
new key alone is additive change, not drift; beside a missing field it is named as the likely
successor. Below ``DRIFT_MIN_NOTES`` a page says too little to tell drift from a few bad notes, so its
bad values are data; the KOL's larger pages, or the next KOLs, tell.

What a drifted page costs is bounded: the KOL's fetch stops at that page (every later page would
drift the same way), and a run stops buying once ``DRIFT_STOP_KOLS`` KOLs drifted (every KOL meets
the same vendor change). So a drift costs a run about ``kol_workers`` calls, not one per KOL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .field_counts import FieldCounts
from .redaction import redact

# A field missing or unreadable on more than this share of a page's notes is drift, not data.
DRIFT_SHARE = 0.5
# A page with fewer notes is never judged as a whole (one odd note of two is not a vendor change).
DRIFT_MIN_NOTES = 3
# A run stops buying once this many KOLs drifted: the vendor changed its answers for everyone.
DRIFT_STOP_KOLS = 3
# An example value in the drift line is cut to this many characters (untrusted text).
EXAMPLE_CHARS = 60
# New keys named beside a missing field, at most.
_NEW_SHOWN = 3


@dataclass(frozen=True, slots=True)
class Drift:
    """What changed: ``changes`` pairs each field with how it broke ("missing", "unreadable"); ``detail``
    says it in one line with an example value. ``key`` names the drift, the same on every KOL and day."""

    changes: tuple[tuple[str, str], ...]
    detail: str

    @property
    def key(self) -> str:
        return ";".join(f"{name}:{how}" for name, how in self.changes)


def example(value: Any) -> str:
    """A value from the API for a message: one line, secrets masked, then truncated (a secret cut in
    two would no longer be recognised)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = redact(" ".join(text.split()))
    if isinstance(value, str):
        text = json.dumps(text, ensure_ascii=False)
    return _cut(text)


def _cut(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def _name(key: Any) -> str:
    """A key from the API (untrusted) as it may appear in a message: one line, truncated."""
    return _cut(redact(" ".join(str(key).split())))


def judge_page(counts: FieldCounts) -> Drift | None:
    """The drift of one page's notes (their counts), or None when its bad values are data."""
    if counts.notes < DRIFT_MIN_NOTES:
        return None
    limit = counts.notes * DRIFT_SHARE
    missing = [name for name, n in counts.missing.items() if n > limit]
    unreadable = [name for name, n in counts.unreadable.items() if n > limit]
    if not missing and not unreadable:
        return None
    parts = []
    if missing:
        most = max(counts.missing[name] for name in missing)
        parts.append(f"{', '.join(missing)} missing on {most} of {counts.notes} notes")
        new = [name for name, n in counts.new.items() if n > limit][:_NEW_SHOWN]
        parts += [f"new field {_name(name)} (e.g. {example(counts.examples.get(name))})" for name in new]
    for name in unreadable:
        wanted = counts.expected.get(name, "another format")
        parts.append(
            f"{name} unreadable on {counts.unreadable[name]} of {counts.notes} notes "
            f"({wanted}, got e.g. {example(counts.examples.get(name))})"
        )
    changes = tuple((name, "missing") for name in missing) + tuple(
        (name, "unreadable") for name in unreadable
    )
    return Drift(changes, "; ".join(parts))


def envelope_drift(data: Any) -> Drift:
    """The drift of a code-0 answer without a ``data.list`` array, naming what ``data`` holds instead."""
    if not isinstance(data, dict):
        what = "null" if data is None else f"{type(data).__name__} {example(data)}"
        return Drift((("data", "not_an_object"),), f"data.list missing: data is {what}")
    if "list" in data:
        return Drift(
            (("data.list", "not_a_list"),), f"data.list is not a list (e.g. {example(data['list'])})"
        )
    held = []
    for name, value in list(data.items())[:_NEW_SHOWN]:
        shape = f"a list of {len(value)}" if isinstance(value, list) else f"e.g. {example(value)}"
        held.append(f"{_name(name)} ({shape})")
    return Drift(
        (("data.list", "missing"),), "data.list missing: data holds " + (", ".join(held) or "nothing")
    )
