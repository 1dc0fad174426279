"""The vendor changing the shape of its answers: the drifts the endpoint's history warns of.

The endpoint was renamed twice with the same path, and fields can change without notice. Each
profile field below reshapes every code-0 answer (all KOLs, every page) the way one such change
would; ``expected_notes`` keeps the truth in the documented shape:

- ``rename_fields``: note keys renamed, e.g. ``{"readNum": "readCount"}``;
- ``nest_metrics``: readNum, likeNum and collectNum moved into an object under this key;
- ``date_format``: ``"epoch_ms"`` sends ``date`` as epoch milliseconds (midnight, China time);
- ``list_key``: ``data.list`` renamed, e.g. ``"notes"``;
- ``omit_total``: ``data.total`` left out.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .profiles import Profile

_CST = timezone(timedelta(hours=8))
NESTED_METRICS = ("readNum", "likeNum", "collectNum")
DATE_FORMATS = ("iso", "epoch_ms")


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
