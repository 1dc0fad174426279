"""The simulator's notes as the endpoint sees them: one ``Note`` per note and day, and the
filters, orderings and paging of the endpoint.

Nothing here depends on the wall clock or on Python's salted ``hash()``, so the same
seed gives the same notes on every machine. ``notegen`` draws the notes and
``timeline`` decides which exist on a given day and what their counts are then.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

ADVERTISE_SWITCHES = ("ALL", "ORGANIC_ONLY")
ORDER_TYPES = ("LATEST", "MOST_READ", "MOST_INTERACT")
NOTE_TYPES = ("ALL", "COOPERATION", "PHOTO_TEXT", "VIDEO")
THIRD_PLATFORM = ("NO", "YES")
FILTERS: dict[str, tuple[str, ...]] = {
    "advertiseSwitch": ADVERTISE_SWITCHES,
    "orderType": ORDER_TYPES,
    "noteType": NOTE_TYPES,
    "isThirdPlatform": THIRD_PLATFORM,
}


def stable_int(*parts: object) -> int:
    """64-bit integer from the parts, identical across processes (unlike ``hash()``)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True, slots=True)
class Note:
    note_id: str
    title: str
    published: date
    is_video: bool
    is_advertise: bool
    brand_name: str | None
    read_num: int
    like_num: int
    collect_num: int | None
    third_read_user_num: int | None
    img_url: str
    third_platform: bool

    @property
    def interactions(self) -> int:
        return self.like_num + (self.collect_num or 0)

    def to_vendor(self) -> dict[str, Any]:
        """A fresh dict in the vendor's field order, safe for the caller to mutate."""
        return {
            "readNum": self.read_num,
            "likeNum": self.like_num,
            "collectNum": self.collect_num,
            "isAdvertise": self.is_advertise,
            "isVideo": self.is_video,
            "noteId": self.note_id,
            "imgUrl": self.img_url,
            "title": self.title,
            "brandName": self.brand_name,
            "date": self.published.isoformat(),
            "thirdReadUserNum": self.third_read_user_num,
        }


def check_filter(name: str, value: str) -> None:
    allowed = FILTERS[name]
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}")


def select(
    notes: tuple[Note, ...],
    advertise_switch: str = "ALL",
    order_type: str = "LATEST",
    note_type: str = "ALL",
    is_third_platform: str = "NO",
) -> list[Note]:
    """Filter and order as the endpoint does; ties fall back to newest first."""
    check_filter("advertiseSwitch", advertise_switch)
    check_filter("orderType", order_type)
    check_filter("noteType", note_type)
    check_filter("isThirdPlatform", is_third_platform)
    wanted_third = is_third_platform == "YES"
    kept = [
        n
        for n in notes
        if n.third_platform == wanted_third
        and not (advertise_switch == "ORGANIC_ONLY" and n.is_advertise)
        and (
            note_type == "ALL"
            or (note_type == "COOPERATION" and n.is_advertise)
            or (note_type == "PHOTO_TEXT" and not n.is_video)
            or (note_type == "VIDEO" and n.is_video)
        )
    ]
    if order_type == "MOST_READ":
        kept.sort(key=lambda n: (n.read_num, n.published, n.note_id), reverse=True)
    elif order_type == "MOST_INTERACT":
        kept.sort(key=lambda n: (n.interactions, n.published, n.note_id), reverse=True)
    else:
        kept.sort(key=lambda n: (n.published, n.note_id), reverse=True)
    return kept


def page_slice(items: list[Note], page: int, page_size: int, dup_across_pages: bool) -> list[Note]:
    """One page of ``items``; with ``dup_across_pages`` page n+1 repeats page n's last note."""
    step = page_size - 1 if dup_across_pages and page_size > 1 else page_size
    start = (page - 1) * step
    return items[start : start + page_size]
