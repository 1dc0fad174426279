"""What one simulated note looks like, drawn from a seeded stream; see ``timeline`` for when.

Shape, chosen to look like the vendor's example answer:

- notes per KOL on its reference date (isThirdPlatform=NO): 6% none (dormant), 12% 1-19,
  74% 20-120, 5% 121-299, 3% 300-480; afterwards one note every 1-10 days on average;
- noteId: 24 lowercase hex chars, the first 8 the publish time (as on the platform);
- final readNum: lognormal, median ~5k per KOL-scale, ~2% above 100k, 1.5% exactly 0;
  likeNum 1-5% of reads; collectNum 10-40% of likes; each grows with a per-note tau of
  1.5-5 days, so a note is nearly settled after two or three weeks;
- isVideo share 30-70% per KOL; isAdvertise share 6-20% per KOL, and brandName is
  non-null exactly for advertise notes;
- a per-KOL share (0-15%) of notes is third-platform (``isThirdPlatform=YES``);
  only those have a non-zero thirdReadUserNum. The flag itself is not emitted.
"""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple

from .data import Note

_CST = timezone(timedelta(hours=8))

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


def draw_count(rng: random.Random) -> int:
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


def growth(age_days: int, tau: float) -> float:
    """Share of a note's final counts reached ``age_days`` after publishing (day 0 included)."""
    return -math.expm1(-(age_days + 1) / tau)


@dataclass(frozen=True, slots=True)
class KolStyle:
    """What stays the same across one KOL's notes."""

    scale: float
    ad_share: float
    video_share: float
    third_share: float
    mean_gap_days: float

    @classmethod
    def draw(cls, rng: random.Random) -> KolStyle:
        return cls(
            scale=math.exp(rng.gauss(0.0, 0.7)),
            ad_share=rng.uniform(0.06, 0.20),
            video_share=rng.uniform(0.3, 0.7),
            third_share=rng.uniform(0.0, 0.15),
            mean_gap_days=rng.uniform(1.0, 10.0),
        )


class Fate(NamedTuple):
    """What happens to a note later, decided by its own hash rather than the stream."""

    deleted_on: date | None
    drop_collects: bool
    drop_third: bool


@dataclass(frozen=True, slots=True)
class NoteLife:
    """A note's fixed facts and final counts (``final``); ``on(day)`` is what the API shows that day."""

    final: Note
    tau: float
    deleted_on: date | None = None

    @property
    def published(self) -> date:
        return self.final.published

    def visible_on(self, day: date) -> bool:
        return self.published <= day and (self.deleted_on is None or day < self.deleted_on)

    def on(self, day: date) -> Note:
        share = growth((day - self.published).days, self.tau)
        f = self.final
        # int() floors, and the share only rises with the day: counts never go down.
        return replace(
            f,
            read_num=int(f.read_num * share),
            like_num=int(f.like_num * share),
            collect_num=None if f.collect_num is None else int(f.collect_num * share),
            third_read_user_num=None if f.third_read_user_num is None else int(f.third_read_user_num * share),
        )


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
    # base32hex is exactly the platform's 0-9a-v alphabet: 32 chars from 160 random bits.
    chars = base64.b32hexencode(rng.getrandbits(160).to_bytes(20, "big")).decode().lower()
    key = "1040g" + ("008", "2sg")[rng.getrandbits(1)] + chars
    return f"http://ci.xiaohongshu.com/{key}?imageView2/2/w/540/format/jpg/q/75"


def draw_note(
    rng: random.Random, style: KolStyle, day: date, taken: set[str], fate: Callable[[str, date], Fate]
) -> NoteLife:
    """One note published on ``day``, with an id not in ``taken``."""
    midnight = int(datetime.combine(day, time(), tzinfo=_CST).timestamp())
    note_id = ""
    while not note_id or note_id in taken:
        note_id = f"{midnight + rng.randrange(86400):08x}00000000{rng.getrandbits(32):08x}"
    is_video = rng.random() < style.video_share
    is_advertise = rng.random() < style.ad_share
    brand = rng.choice(BRANDS) if is_advertise else None
    reads = round(5000 * style.scale * math.exp(rng.gauss(0.0, 1.3)))
    if rng.random() < 0.015:
        reads = 0
    likes = round(reads * rng.uniform(0.01, 0.05))
    collects = round(likes * rng.uniform(0.10, 0.40))
    third_platform = rng.random() < style.third_share
    third_reads = round(reads * rng.uniform(0.02, 0.3)) if third_platform else 0
    later = fate(note_id, day)
    # Drawn in this order (title, tau, image) so a seed keeps giving the same notes.
    title = _title(rng)
    tau = rng.uniform(1.5, 5.0)
    final = Note(
        note_id=note_id,
        title=title,
        published=day,
        is_video=is_video,
        is_advertise=is_advertise,
        brand_name=brand,
        read_num=reads,
        like_num=likes,
        collect_num=None if later.drop_collects else collects,
        third_read_user_num=None if later.drop_third else third_reads,
        img_url=_img_url(rng),
        third_platform=third_platform,
    )
    return NoteLife(final, tau, later.deleted_on)
