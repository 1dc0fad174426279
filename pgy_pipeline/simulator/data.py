"""The simulator's dataset: every KOL's notes, deterministic per (seed, userId).

Nothing here depends on the wall clock or on Python's salted ``hash()``, so the
same seed gives the same notes on every machine and every day. Shape, chosen to
look like the vendor's example answer:

- notes per KOL (isThirdPlatform=NO, the default view): 6% none, 12% 1-19, 74% 20-120, 5% 121-299, 3% 300-480;
- dates descend from an anchor date (derived from the seed) with gaps of 0-6 days;
- noteId: 24 lowercase hex chars, the first 8 the publish time (as on the platform);
- readNum: lognormal, median ~5k per KOL-scale, ~2% above 100k, 1.5% exactly 0;
  likeNum 1-5% of reads; collectNum 10-40% of likes;
- isVideo share 30-70% per KOL; isAdvertise share 6-20% per KOL, and brandName is
  non-null exactly for advertise notes;
- a per-KOL share (0-15%) of notes is third-platform (``isThirdPlatform=YES``);
  only those have a non-zero thirdReadUserNum. The flag itself is not emitted.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
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

# The date of the vendor's own example answer; seeds shift back from it.
BASE_ANCHOR = date(2026, 3, 8)
_CST = timezone(timedelta(hours=8))
_IMG_CHARS = "0123456789abcdefghijklmnopqrstuv"

BRANDS = ("花西子", "完美日记", "珀莱雅", "三顿半", "元气森林", "Ubras", "蕉下", "小米", "安踏", "瑞幸咖啡")
_SUBJECTS = ("宝宝", "姐姐", "团团", "老公", "我妈", "闺蜜", "打工人", "小猫", "今天的我", "一家三口")
_PHRASES = (
    "又被整破防了",
    "终于学会了自己吃饭",
    "一关灯就要喝水",
    "这波操作我服了",
    "挑战一周不点外卖",
    "分享一个超好用的收纳方法",
    "的早餐日常",
    "周末去哪儿玩",
    "夏天必备的三件单品",
    "居然这么好吃",
    "凭实力把自己养活",
    "的护肤步骤｜干皮亲测",
)
_SUFFIXES = ("!", "", "?", "~", "…", "!!")
_EMOJI = ("😂", "😭", "🥹", "✨", "❤️", "🔥", "👶", "🍜", "🐱")


def stable_int(*parts: object) -> int:
    """64-bit integer from the parts, identical across processes (unlike ``hash()``)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def anchor_for_seed(seed: int) -> date:
    return BASE_ANCHOR - timedelta(days=stable_int(seed, "anchor") % 90)


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


def _draw_count(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.06:
        return 0
    if r < 0.18:
        return rng.randint(1, 19)
    if r < 0.92:
        return rng.randint(20, 120)
    if r < 0.97:
        return rng.randint(121, 299)
    return rng.randint(300, 480)


def _title(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.01:
        return ""
    if r < 0.03:
        # A title with ASCII quotes and a backslash keeps JSON escaping honest.
        return '"真香"警告\\第' + str(rng.randint(2, 9)) + "弹"
    title = rng.choice(_SUBJECTS) + rng.choice(_PHRASES) + rng.choice(_SUFFIXES)
    if rng.random() < 0.45:
        title += rng.choice(_EMOJI)
    return title


def _img_url(rng: random.Random) -> str:
    key = "1040g" + rng.choice(("008", "2sg")) + "".join(rng.choice(_IMG_CHARS) for _ in range(32))
    return f"http://ci.xiaohongshu.com/{key}?imageView2/2/w/540/format/jpg/q/75"


@lru_cache(maxsize=4096)
def generate_notes(
    seed: int,
    user_id: str,
    count: int | None = None,
    anchor: date | None = None,
    null_metric_share: float = 0.0,
) -> tuple[Note, ...]:
    """All notes of one KOL, newest first; ``count`` pins the notes with isThirdPlatform=NO."""
    rng = random.Random(stable_int(seed, user_id))
    drawn = _draw_count(rng)
    count = drawn if count is None else count
    day = anchor or anchor_for_seed(seed)
    scale = math.exp(rng.gauss(0.0, 0.7))
    ad_share = rng.uniform(0.06, 0.20)
    video_share = rng.uniform(0.3, 0.7)
    third_share = rng.uniform(0.0, 0.15)
    notes: list[Note] = []
    seen: set[str] = set()
    # ``count`` is what the default view (isThirdPlatform=NO) shows, so a pinned count
    # is what a test sees; third-platform notes come on top of it.
    visible = 0
    while visible < count:
        day -= timedelta(days=rng.randint(0, 6))
        midnight = int(datetime.combine(day, time(), tzinfo=_CST).timestamp())
        note_id = ""
        while not note_id or note_id in seen:
            note_id = f"{midnight + rng.randrange(86400):08x}00000000{rng.getrandbits(32):08x}"
        seen.add(note_id)
        is_video = rng.random() < video_share
        is_advertise = rng.random() < ad_share
        brand = rng.choice(BRANDS) if is_advertise else None
        reads = round(5000 * scale * math.exp(rng.gauss(0.0, 1.3)))
        if rng.random() < 0.015:
            reads = 0
        likes = round(reads * rng.uniform(0.01, 0.05))
        collects: int | None = round(likes * rng.uniform(0.10, 0.40))
        third_platform = rng.random() < third_share
        visible += not third_platform
        third_reads: int | None = round(reads * rng.uniform(0.02, 0.3)) if third_platform else 0
        # Nulls hang off the note's own hash, not the RNG stream, so changing the share
        # never reshuffles the rest of the data.
        if stable_int(seed, user_id, note_id, "null") / 2**64 < null_metric_share:
            if stable_int(seed, user_id, note_id, "which") % 2:
                collects = None
            else:
                third_reads = None
        notes.append(
            Note(
                note_id=note_id,
                title=_title(rng),
                published=day,
                is_video=is_video,
                is_advertise=is_advertise,
                brand_name=brand,
                read_num=reads,
                like_num=likes,
                collect_num=collects,
                third_read_user_num=third_reads,
                img_url=_img_url(rng),
                third_platform=third_platform,
            )
        )
    return tuple(notes)


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
