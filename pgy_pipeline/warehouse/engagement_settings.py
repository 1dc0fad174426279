"""The knobs of the derived figures, in one place: defaults, descriptions and checks.

``PgyResource`` exposes each one as a config field (its default and description are read
from here), so the Dagster UI, ``pgy`` and the warehouse tests all use the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

DESCRIPTIONS = {
    "viral_low_likes": "Likes for a note to count in viral_low_rate (百赞).",
    "viral_high_likes": "Likes for viral_high_rate (千赞).",
    "peer_min_kols": "Fewest KOLs of a category with a figure for a category percentile "
    "(kol_percentiles); a smaller category says so instead of showing one.",
    "price_stale_days": "A price whose valid_from is more days old than this is flagged stale (kol_costs).",
    "lifecycle_tolerance_days": "A note's day-N lifecycle point takes the snapshot nearest to day N "
    "within this many days; none that near leaves the point missing (note_lifecycle).",
    "rising_min_notes": "Fewest notes of a KOL with a day-N figure before a note can be called "
    "rising against them (note_lifecycle.rising).",
    "flag_min_notes": "Fewest notes on each side of a comparison before a flag may be raised (kol_flags).",
    "flag_rate_factor": "A like_collect rate this many times above or below the KOL's own history, or "
    "its category's median, is flagged (kol_flags).",
    "flag_jump_reads": "Reads a note gains between two snapshots, with no like or collect following, "
    "that raise the reads_without_like_collect flag (kol_flags).",
    "flag_cadence_factor": "Notes per week of the last 30 days this many times above or below the "
    "90 days before is flagged as a cadence change (kol_flags).",
}


@dataclass(frozen=True)
class EngagementSettings:
    """Knobs of the derived figures (see DESCRIPTIONS). Viral thresholds follow the platform's 百赞/千赞."""

    viral_low_likes: int = 100
    viral_high_likes: int = 1000
    peer_min_kols: int = 5
    price_stale_days: int = 180
    lifecycle_tolerance_days: int = 1
    rising_min_notes: int = 5
    flag_min_notes: int = 5
    flag_rate_factor: float = 2.0
    flag_jump_reads: int = 5000
    flag_cadence_factor: float = 3.0

    def __post_init__(self) -> None:
        if not 0 < self.viral_low_likes <= self.viral_high_likes:
            raise ValueError(
                "viral thresholds must satisfy 0 < viral_low_likes <= viral_high_likes, got "
                f"{self.viral_low_likes} and {self.viral_high_likes}"
            )
        for name in (
            "peer_min_kols",
            "price_stale_days",
            "rising_min_notes",
            "flag_min_notes",
            "flag_jump_reads",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.lifecycle_tolerance_days <= 3:
            raise ValueError(
                f"lifecycle_tolerance_days must be 0 to 3 (day points are 1, 3, 7, 14 and 30), "
                f"got {self.lifecycle_tolerance_days}"
            )
        for name in ("flag_rate_factor", "flag_cadence_factor"):
            if not getattr(self, name) > 1:
                raise ValueError(f"{name} must be above 1, got {getattr(self, name)}")


DEFAULTS = EngagementSettings()
assert set(DESCRIPTIONS) == {f.name for f in fields(EngagementSettings)}, "every setting is described"
