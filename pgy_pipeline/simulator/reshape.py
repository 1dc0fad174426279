"""The vendor changing the shape of its answers: the drifts the endpoint's history warns of.

The endpoint was renamed twice with the same path, and fields can change without notice. Each
profile field below reshapes every code-0 answer (all KOLs, every page) the way one such change
would; ``expected_notes`` keeps the truth in the documented shape:

- ``rename_fields``: note keys renamed, e.g. ``{"readNum": "readCount"}``;
- ``nest_metrics``: readNum, likeNum and collectNum moved into an object under this key;
- ``date_format``: ``"epoch_ms"`` sends ``date`` as epoch milliseconds (midnight, China time);
- ``list_key``: ``data.list`` renamed, e.g. ``"notes"``;
- ``omit_total``: ``data.total`` left out.

And the quirks a reader must tolerate (``add_quirks``): fields the docs do not list
(``extra_fields``), numbers sent as strings (``p_string_numbers``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .data import stable_int

if TYPE_CHECKING:
    from .profiles import Profile

_CST = timezone(timedelta(hours=8))
NESTED_METRICS = ("readNum", "likeNum", "collectNum")
_METRICS = ("readNum", "likeNum", "collectNum", "thirdReadUserNum")


def _epoch_ms(iso: str) -> int:
    midnight = datetime.combine(date.fromisoformat(iso), time(), tzinfo=_CST)
    return int(midnight.timestamp() * 1000)


def reshape(profile: Profile, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` of a code-0 answer in the profile's shape, and the names of the drifts applied."""
    applied: list[str] = []
    items: list[dict[str, Any]] = data["list"]
    if profile.date_format == "epoch_ms":
        applied.append("date_epoch_ms")
        for item in items:
            if isinstance(item.get("date"), str):
                item["date"] = _epoch_ms(item["date"])
    if profile.nest_metrics:
        applied.append("nested_metrics")
        for item in items:
            item[profile.nest_metrics] = {m: item.pop(m) for m in NESTED_METRICS if m in item}
    if profile.rename_fields:
        applied.append("renamed_fields")
        for i, item in enumerate(items):
            items[i] = {profile.rename_fields.get(k, k): v for k, v in item.items()}
    if profile.omit_total:
        applied.append("no_total")
        data.pop("total", None)
    if profile.list_key != "list":
        applied.append("list_renamed")
        data = {(profile.list_key if k == "list" else k): v for k, v in data.items()}
    return data, applied


def add_quirks(
    profile: Profile, data: dict[str, Any], seed: int, user_id: str, page: int, strings: bool
) -> list[str]:
    """Add the profile's tolerated quirks to ``data`` (``strings``: this page sends numbers as
    strings); the names of the quirks added."""
    added: list[str] = []
    items: list[dict[str, Any]] = data["list"]
    if profile.extra_fields:
        added.append("extra_fields")
        for item in items:
            key = stable_int(seed, user_id, item["noteId"], "extra")
            item["shareNumV2"] = key % 500
            item["xsecToken"] = f"AB{key:016x}"
        data["cursorV2"] = f"{stable_int(seed, user_id, page, 'cursor'):016x}"
    if items and strings:
        added.append("string_numbers")
        for item in items:
            for metric in _METRICS:
                if item[metric] is not None:
                    item[metric] = str(item[metric])
    return added
