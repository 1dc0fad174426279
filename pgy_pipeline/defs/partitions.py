"""KOLs are dynamic partitions: one partition per Xiaohongshu user id on the roster."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

KOLS_PARTITIONS_NAME = "kols"
kol_partitions = dg.DynamicPartitionsDefinition(name=KOLS_PARTITIONS_NAME)


def contiguous_ranges(wanted: Sequence[str], all_keys: Sequence[str]) -> list[tuple[str, str]]:
    """Cover ``wanted`` with as few (first, last) runs of consecutive keys of ``all_keys`` as possible.

    One Dagster run can only carry a contiguous range of partition keys; a refresh of a
    scattered set of KOLs therefore becomes a few runs instead of one run per KOL.
    """
    want = set(wanted)
    missing = want - set(all_keys)
    if missing:
        raise ValueError(f"not KOL partitions: {', '.join(sorted(missing))}")
    ranges: list[tuple[str, str]] = []
    start: str | None = None
    prev: str | None = None
    for key in all_keys:
        if key in want:
            if start is None:
                start = key
            prev = key
        elif start is not None and prev is not None:
            ranges.append((start, prev))
            start = None
    if start is not None and prev is not None:
        ranges.append((start, prev))
    return ranges


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make a run target partitions first..last (a single-run backfill)."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
