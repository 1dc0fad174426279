"""KOLs are dynamic partitions: one partition per Xiaohongshu user id on the roster."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import dagster as dg

from pgy_pipeline.defs.dagster_private import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from pgy_pipeline.roster import load_roster

KOLS_PARTITIONS_NAME = "kols"
# Run tag naming the KOLs of a run, for people: partition keys are 24-hex user ids.
KOLS_TAG = "pgy/kols"
# Up to this many KOLs are named in KOLS_TAG; a bigger run carries its count.
MAX_NAMED_KOLS = 5
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
    return {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last}


def roster_labels(roster_path: str | os.PathLike[str]) -> dict[str, str | None]:
    """user_id -> label from the roster file (bad lines are skipped, as everywhere)."""
    return load_roster(roster_path).labels


def keys_between(first: str, last: str, all_keys: Sequence[str]) -> list[str]:
    """The partition keys first..last in the order of ``all_keys`` (what a range run covers)."""
    keys = list(all_keys)
    return keys[keys.index(first) : keys.index(last) + 1]


def kols_tag(user_ids: Sequence[str], labels: Mapping[str, str | None]) -> dict[str, str]:
    """``pgy/kols``: "label (user_id), ..." for a run of a few KOLs, "N KOLs" beyond.

    Dagster has no run name or description to set; tags show in the runs list and on the
    run's page, and can be filtered on.
    """
    if len(user_ids) > MAX_NAMED_KOLS:
        return {KOLS_TAG: f"{len(user_ids)} KOLs"}
    named = [f"{labels[u]} ({u})" if labels.get(u) else u for u in user_ids]
    return {KOLS_TAG: ", ".join(named)}
