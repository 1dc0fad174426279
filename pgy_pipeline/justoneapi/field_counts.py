"""How the notes of a page kept to the data contract (contract.py), field by field.

Its own module because a Page carries its counts (models.py) and drift judges them (drift.py),
while the contract builds the notes: each imports this one, and none of them the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The note fields that are metrics: a null or missing one is stored as NULL, never 0.
METRIC_FIELDS = ("readNum", "likeNum", "collectNum", "thirdReadUserNum")


@dataclass
class FieldCounts:
    """Per note field: values sent as null, keys missing, values present but unreadable; new keys seen.

    ``examples`` keeps the first unreadable value of each field and the first value of each new key,
    for the one line that says what drifted (untrusted: shown truncated, see drift.py); ``expected``
    what the contract wanted instead.
    """

    notes: int = 0
    null: dict[str, int] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)
    new: dict[str, int] = field(default_factory=dict)
    examples: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, str] = field(default_factory=dict)

    def add(self, kind: dict[str, int], name: str, example: Any = None, keep: bool = False) -> None:
        kind[name] = kind.get(name, 0) + 1
        if keep and name not in self.examples:
            self.examples[name] = example

    def merge(self, other: FieldCounts) -> None:
        self.notes += other.notes
        pairs = [(self.null, other.null), (self.missing, other.missing)]
        pairs += [(self.unreadable, other.unreadable), (self.new, other.new)]
        for mine, theirs in pairs:
            for name, n in theirs.items():
                mine[name] = mine.get(name, 0) + n
        for name, value in other.examples.items():
            self.examples.setdefault(name, value)
        for name, text in other.expected.items():
            self.expected.setdefault(name, text)

    def as_json(self) -> dict[str, Any]:
        """What ``fetches.field_counts`` keeps (no examples: untrusted text stays in the raw layer)."""
        return {
            "notes": self.notes,
            "null": self.null,
            "missing": self.missing,
            "unreadable": self.unreadable,
        }

    @property
    def null_metrics(self) -> int:
        """Metric values stored as NULL: sent as null or missing (unreadable ones are in ``unreadable``)."""
        return sum(self.null.get(m, 0) + self.missing.get(m, 0) for m in METRIC_FIELDS)

    @property
    def invalid_values(self) -> int:
        return sum(self.unreadable.values())
