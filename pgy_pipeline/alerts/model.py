"""What an alert says, independent of the service that carries it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Names shown per list: a chat message is read on a phone; the full list is in the Dagster UI.
MAX_KOLS_SHOWN = 10
MAX_LINE_CHARS = 400
MAX_LABEL_CHARS = 40
MAX_LIST_CHARS = 300


class AlertKind(StrEnum):
    RUN_FAILED = "run_failed"
    QUOTA_STOP = "quota_stop"
    BALANCE_STOP = "balance_stop"
    TOKEN_STOP = "token_stop"
    BUDGET_STOP = "budget_stop"
    UNBILLED_STOP = "unbilled_stop"
    SCHEMA_DRIFT = "schema_drift"
    KOL_GIVEN_UP = "kol_given_up"


@dataclass(frozen=True, slots=True)
class Alert:
    """One message to people.

    ``title`` is one line; ``lines`` say what happened, which KOLs, and what to do. ``dedup_key``
    names the event (``quota_stop:<until>``, ``run_failed:<run_id>``, ...): the same key is
    delivered at most once, whichever process sees the event first.
    """

    kind: AlertKind
    title: str
    lines: tuple[str, ...]
    dedup_key: str
    link: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", _one_line(self.title))
        object.__setattr__(self, "lines", tuple(_one_line(line) for line in self.lines if line))

    @property
    def text(self) -> str:
        """Title, lines and link as plain text, one per line."""
        parts = [self.title, *self.lines]
        if self.link:
            parts.append(self.link)
        return "\n".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "title": self.title,
            "lines": list(self.lines),
            "text": self.text,
            "dedup_key": self.dedup_key,
            "link": self.link,
        }


def _one_line(text: str) -> str:
    # Failure messages can hold tracebacks or tables; a chat line must stay a line.
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_LINE_CHARS else flat[: MAX_LINE_CHARS - 1] + "…"


def kol_name(user_id: str, labels: Mapping[str, str | None] | None = None) -> str:
    label = " ".join(((labels or {}).get(user_id) or "").split())
    if len(label) > MAX_LABEL_CHARS:
        label = label[: MAX_LABEL_CHARS - 1] + "…"
    return f"{user_id} ({label})" if label else user_id


def kol_list(
    user_ids: Sequence[str],
    labels: Mapping[str, str | None] | None = None,
    notes: Mapping[str, str] | None = None,
    limit: int = MAX_KOLS_SHOWN,
    max_chars: int = MAX_LIST_CHARS,
    more: int = 0,
) -> str:
    """``a (Label) [301], b, c and 7 more``: the first KOLs that fit, each with its label and note.

    Stops at ``limit`` names or ``max_chars``, whichever comes first, so the "and N more" is
    always there to say the list is cut (a line is capped at MAX_LINE_CHARS). ``more`` counts
    KOLs beyond ``user_ids`` that have no name to show (a run tag with no room for them).
    """
    unique = list(dict.fromkeys(user_ids))
    shown: list[str] = []
    used = 0
    for user_id in unique[:limit]:
        note = (notes or {}).get(user_id)
        name = kol_name(user_id, labels) + (f" [{note}]" if note else "")
        if shown and used + len(name) + 2 > max_chars:
            break
        shown.append(name)
        used += len(name) + 2
    if not shown:
        return f"{more} not named here (the run's metadata lists them)" if more else ""
    text = ", ".join(shown)
    if len(unique) + more > len(shown):
        text += f" and {len(unique) + more - len(shown)} more"
    return text
