"""Each KOL's notes over time: when they are published, how their metrics grow, when some go.

The world is a pure function of (seed, userId, day): a note exists from its publish date
on, its counts grow along ``final * (1 - exp(-(age_days + 1) / tau))`` and a few notes
are deleted. Nothing depends on the wall clock except ``today_cst``, the default day.

Every KOL has a reference date ``ref`` and a note count ``count`` on that date. The notes
up to ``ref`` come from one seeded stream (newest first, walking back in time), the notes
after it from a second stream (walking forward, extended lazily), so asking about a later
day never changes the past. Unpinned KOLs share a per-seed ``ref`` (``reference_date``)
and draw their count; a pinned KOL (``fixed_counts``) has exactly ``count`` notes with
isThirdPlatform=NO on its ``ref`` and is never deleted from, so tests can rely on it.
A KOL with a count of 0 is dormant and never publishes.
"""

from __future__ import annotations

import random
import threading
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from .data import Note, stable_int
from .notegen import Fate, KolStyle, NoteLife, draw_count, draw_note, growth

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The date of the vendor's own example answer; seeds shift the reference back from it.
BASE_ANCHOR = date(2026, 3, 8)
DELETED_SHARE = 0.015
_MAX_DELETE_AFTER_DAYS = 60


def today_cst() -> date:
    """Today in Asia/Shanghai, the platform's (and the quota's) day."""
    return datetime.now(SHANGHAI).date()


def reference_date(seed: int) -> date:
    return BASE_ANCHOR - timedelta(days=stable_int(seed, "anchor") % 90)


class Timeline:
    """All notes one KOL ever publishes; thread-safe, the future is generated on demand."""

    def __init__(
        self, seed: int, user_id: str, pinned: int | None, ref: date, null_metric_share: float
    ) -> None:
        self.seed, self.user_id, self.ref = seed, user_id, ref
        self._pinned = pinned is not None
        self._null_share = null_metric_share
        rng = random.Random(stable_int(seed, user_id))
        drawn = draw_count(rng)
        self.count = drawn if pinned is None else pinned
        self._style = KolStyle.draw(rng)
        self._seen: set[str] = set()
        self._history = self._walk_back(rng)
        self._future: list[NoteLife] = []
        self._future_rng = random.Random(stable_int(seed, user_id, "future"))
        self._lock = threading.Lock()
        self._settled: dict[str, Note] = {}

    def _gap(self, rng: random.Random) -> int:
        # Whole days, exponential around the KOL's cadence: bursts and quiet spells.
        return int(rng.expovariate(1.0 / self._style.mean_gap_days))

    def _fate(self, note_id: str, day: date) -> Fate:
        # Deletions and nulls hang off the note's own hash, not the stream, so changing
        # their shares never reshuffles the rest of the data. One hash, four fields.
        h = stable_int(self.seed, self.user_id, note_id, "fate")
        deleted_on = None
        if not self._pinned and (h >> 40) / 2**24 < DELETED_SHARE:
            deleted_on = day + timedelta(days=1 + (h >> 1 & 0x7FFF) % _MAX_DELETE_AFTER_DAYS)
        nulled = (h >> 16 & 0xFFFFFF) / 2**24 < self._null_share
        return Fate(deleted_on, drop_collects=nulled and h & 1 == 1, drop_third=nulled and h & 1 == 0)

    def _note(self, rng: random.Random, day: date) -> NoteLife:
        note = draw_note(rng, self._style, day, self._seen, self._fate)
        self._seen.add(note.final.note_id)
        return note

    def _walk_back(self, rng: random.Random) -> tuple[NoteLife, ...]:
        # ``count`` is what the default view (isThirdPlatform=NO) shows on ``ref``, so a
        # pinned count is what a test sees; third-platform and deleted notes come on top.
        notes: list[NoteLife] = []
        visible, day = 0, self.ref
        while visible < self.count:
            day -= timedelta(days=self._gap(rng))
            note = self._note(rng, day)
            notes.append(note)
            visible += note.visible_on(self.ref) and not note.final.third_platform
        return tuple(notes)

    def _extend(self, until: date) -> None:
        """Generate forward until a note lies beyond ``until``, so no later call adds one before it."""
        if self.count == 0:
            return
        with self._lock:
            while not self._future or self._future[-1].published <= until:
                last = self._future[-1].published if self._future else self.ref + timedelta(days=1)
                day = last + timedelta(days=self._gap(self._future_rng))
                self._future.append(self._note(self._future_rng, day))

    def lives(self, until: date) -> list[NoteLife]:
        """Every note published by ``until``, deleted or not, with its final counts (newest first)."""
        self._extend(until)
        with self._lock:
            future = [n for n in reversed(self._future) if n.published <= until]
        return [*future, *(n for n in self._history if n.published <= until)]

    def notes_on(self, day: date) -> tuple[Note, ...]:
        """The notes served on ``day`` with their metrics on that day, newest first."""
        notes = []
        for life in self.lives(day):
            if not life.visible_on(day):
                continue
            if growth((day - life.published).days, life.tau) < 1.0:
                notes.append(life.on(day))
                continue
            # A settled note looks the same every later day: build it once, share it across days.
            note = self._settled.get(life.final.note_id)
            if note is None:
                note = self._settled[life.final.note_id] = life.on(day)
            notes.append(note)
        return tuple(notes)


@lru_cache(maxsize=4096)
def timeline(seed: int, user_id: str, pinned: int | None, ref: date | None, null_share: float) -> Timeline:
    return Timeline(seed, user_id, pinned, ref or reference_date(seed), null_share)


@lru_cache(maxsize=2048)
def notes_on(
    seed: int,
    user_id: str,
    day: date,
    pinned: int | None = None,
    counts_on: date | None = None,
    null_metric_share: float = 0.0,
) -> tuple[Note, ...]:
    """One KOL's notes on ``day``, newest first; cached because every page call needs them.

    ``pinned`` fixes the isThirdPlatform=NO count on ``counts_on`` (default: ``day``).
    """
    ref = (counts_on or day) if pinned is not None else None
    return timeline(seed, user_id, pinned, ref, null_metric_share).notes_on(day)
