"""Full or incremental: which kind of fetch each KOL gets today, and the weekly full-refresh rota.

A **full** fetch reads every page of a KOL: the only kind that can prove a note gone and
that refreshes the long tail of old notes. An **incremental** fetch reads newest first and
stops at the first page reaching notes older than the window (``stop_before``): metrics
move fast in a note's first days and hardly at all after a few weeks (the simulator's
growth curve has tau 1.5-5 days), so a recent window plus the stored metrics of older notes
serve the 30/90-day engagement columns (README, "Refresh modes", for the measured figures).

The rota spreads the full fetches over the days: a stable hash of the user id picks each
KOL's day in a cycle of ``every_days``, so about 1/N of the roster is fetched fully each
day and the daily spend stays even. A KOL never fully fetched, or whose last complete full
fetch is older than N days (its rota day failed, was over budget, or N changed), gets a
full fetch whatever its day. So does a KOL whose last complete full fetch did not return
some of its live notes: a note is marked gone only after two complete full fetches missed
it (warehouse/gone.py), and confirming the next day rather than on the next rota day keeps
a deleted note out of the engagement tables within a day, for one extra fetch per deletion.

That extra fetch is bought on the evidence of one listing, so its worth is judged by how that
evidence fared: when, over the last 30 days, a KOL's listings left out more notes that later
fetches listed again (glitches of the listing) than notes that were then confirmed gone
(deletions), a missing note of that KOL waits for its next rota day instead
(``confirmation_pays``). A listing that keeps contradicting itself would otherwise buy a full
fetch of that KOL every day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from datetime import date, timedelta
from enum import StrEnum

from pgy_pipeline.justoneapi import NotesQuery, OrderType

# Chosen from the data (bench/window_study.py, 150 KOLs x 28 days, full every 7 days): the worst
# day's 30-day medians deviate 0.34% with 7 days, 0.135% with 14, 0.134% with 21 or 30 (what
# remains is deleted notes not yet marked gone, which only a full fetch can see). Past 14 days a
# longer window buys nothing: a note 14 days old has >= 95% of its final counts even at tau = 5
# days and the weekly full refresh settles the rest; calls are 25.3% of full mode with 14 days,
# 28.4% with 30.
DEFAULT_WINDOW_DAYS = 14
DEFAULT_FULL_EVERY_DAYS = 7


# How far back a KOL's missed notes are weighed (confirmation_pays).
EVIDENCE_WINDOW = timedelta(days=30)


def confirmation_pays(listing_glitches: int, deletions: int) -> bool:
    """Whether to buy a next-day full fetch to confirm a KOL's missing notes: not when its
    listings' misses were more often glitches (notes listed again) than deletions, lately."""
    return listing_glitches <= deletions


class RefreshMode(StrEnum):
    """What a run was asked for (schedule, run config, ``pgy refresh --mode``)."""

    AUTO = "auto"  # full for the KOLs whose rota day it is (or who are stale), incremental for the rest
    FULL = "full"
    INCREMENTAL = "incremental"


class FetchKind(StrEnum):
    """What one KOL gets in one run."""

    FULL = "full"
    INCREMENTAL = "incremental"


def rota_slot(user_id: str, every_days: int) -> int:
    """The KOL's day in the rota, 0..every_days-1; stable across processes and machines."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % every_days


def is_rota_day(user_id: str, day: date, every_days: int) -> bool:
    return day.toordinal() % every_days == rota_slot(user_id, every_days)


def full_is_due(
    user_id: str, day: date, every_days: int, last_full: date | None, confirm: bool = False
) -> bool:
    """Rota day, never fully fetched, the last complete full fetch is older than ``every_days``,
    or it missed notes that a second full fetch must confirm gone (``confirm``)."""
    if last_full is None or (confirm and last_full < day):
        return True
    return (day - last_full).days > every_days or is_rota_day(user_id, day, every_days)


def window_start(day: date, window_days: int) -> date:
    """``stop_before`` of an incremental fetch: the window holds the last ``window_days`` days, today
    included, the same days as the engagement columns' ``publish_date > as_of - N``."""
    return day - timedelta(days=window_days - 1)


def can_be_incremental(filters: Mapping[str, str] | None) -> bool:
    """Only newest-first pages let one old note stand for every page after it."""
    return NotesQuery("any", **(filters or {})).order_type is OrderType.LATEST


def choose_kinds(
    user_ids: Sequence[str],
    mode: RefreshMode,
    day: date,
    every_days: int,
    last_full: Mapping[str, date | None],
    filters: Mapping[str, str] | None = None,
    confirm: Collection[str] = (),
) -> dict[str, FetchKind]:
    """Each KOL's kind of fetch today. ``last_full``: day of each KOL's last complete full fetch.

    An explicit INCREMENTAL is obeyed even for a KOL never fully fetched (the caller asked for
    it); AUTO never leaves a KOL without a full fetch for more than ``every_days`` days. A
    query not ordered by LATEST cannot stop at a date, so it is always full.
    """
    if every_days < 1:
        raise ValueError(f"full_refresh_every_days must be >= 1; got {every_days}")
    if mode is RefreshMode.FULL or not can_be_incremental(filters):
        return dict.fromkeys(user_ids, FetchKind.FULL)
    if mode is RefreshMode.INCREMENTAL:
        return dict.fromkeys(user_ids, FetchKind.INCREMENTAL)
    return {
        u: FetchKind.FULL
        if full_is_due(u, day, every_days, last_full.get(u), u in confirm)
        else FetchKind.INCREMENTAL
        for u in user_ids
    }
