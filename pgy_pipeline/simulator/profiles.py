"""Fault profiles of the simulator: what can go wrong, and how often.

A :class:`Profile` is a frozen bag of knobs. Probabilities (``p_*``) are drawn
independently on every call from the simulator's seeded RNG, so a run is
reproducible in distribution. ``Simulator(profile, **overrides)`` and
``Simulator.update(**overrides)`` replace fields with ``dataclasses.replace``.

The bundled profiles (anything not listed is off, as in ``clean``):

=====================  =======  =========  =========
field                  clean    realistic  hostile
=====================  =======  =========  =========
latency_s              0        0.15       0.15
p_301                  0        0.05       0.05
rate_limit_per_s       None     20         20
p_500                  0        0          0.01
p_http_429             0        0          0.01
p_http_503             0        0          0.01
p_html_502             0        0          0.02
p_truncated            0        0          0.02
p_stall (stall_s)      0        0          0.01 (2.0 s, half of them dropped)
p_string_numbers       0        0          0.10
null_metric_share      0        0          0.03
extra_fields           False    False      True
dup_across_pages       False    False      True
total_drift            0        0          1 (upward only)
=====================  =======  =========  =========
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from .timeline import today_cst

DATE_FORMATS = ("iso", "epoch_ms")  # how a note's date is sent (reshape.py)

_PROBABILITIES = (
    "p_301",
    "p_500",
    "p_http_429",
    "p_http_503",
    "p_html_502",
    "p_truncated",
    "p_stall",
    "stall_drop_share",
    "p_string_numbers",
    "null_metric_share",
    "p_note_omitted",
)
_MAPPINGS = ("fixed_counts", "user_codes", "rename_fields", "note_content")
# What note_content may replace: the free-text fields of a note, as the API could send them.
CONTENT_FIELDS = ("title", "brand_name", "img_url")
_TOKEN_SETS = ("revoked_tokens", "forbidden_users")
_DATES = ("as_of", "counts_on")


@dataclass(frozen=True)
class Profile:
    """Behaviour of one simulated endpoint. Every fault defaults to off.

    Data shape:
      page_size: notes per page (the live API answers 8).
      as_of: the day the simulator serves (notes published by then, counts as of then);
        None means today in Asia/Shanghai, looked up on every call.
      fixed_counts: pin a user's isThirdPlatform=NO note count on ``counts_on``, e.g.
        ``{"u0": 0, "u9": 9}``; such a user keeps publishing afterwards, never deletes,
        and a count of 0 means it never publishes at all.
      counts_on: the day ``fixed_counts`` hold; ``Simulator`` sets it to its starting
        ``as_of`` so moving the clock later adds notes instead of sliding the window.
      null_metric_share: share of notes whose collectNum or thirdReadUserNum is null
        in the data itself; stable per note, so ``expected_notes`` shows the nulls too.
      note_content: replace free text in every note of a user, e.g.
        ``{"u1": {"title": "<script>...", "img_url": "javascript:..."}}`` (keys: title,
        brand_name, img_url; brand_name only on cooperation notes, which alone carry one).
        ``expected_notes`` shows the replaced values: hostile content as the API sends it.
      extra_fields: add fields the vendor might add later (``shareNumV2``, ``xsecToken``
        per note, ``cursorV2`` in data). ``expected_notes`` leaves them out.
    Account faults (business codes, HTTP 200):
      valid_tokens: if set, any other token gets 100; None accepts any non-empty token.
      revoked_tokens -> 100; forbidden_users -> 600; user_codes forces any code per user.
      daily_quota: calls per token that pass the rate limit; beyond -> 303.
      balance: successful (code 0) calls per token; beyond -> 601.
      rate_limit_per_s / rate_burst: token bucket per token; empty -> 302 + Retry-After.
    Per-call faults (probabilities): p_301, p_500 (business codes); p_http_429 (JSON body,
      Retry-After = retry_after_s), p_http_503 (JSON framework body), p_html_502 (nginx
      HTML page), p_truncated (envelope cut mid-body, HTTP 200, honest Content-Length),
      p_stall (sleep stall_s, then drop the connection with probability stall_drop_share
      or answer normally), p_string_numbers (metrics sent as strings on that call).
    Paging faults: dup_across_pages (page n+1 starts with the last note of page n, as if
      a new note pushed everything down by one), total_drift (reported total is the true
      total plus a random int in [0, k], or [-k, k] with total_drift_down), p_note_omitted
      (each day's listing leaves out each live note with this probability, and its total
      agrees with the shorter list: a listing that contradicts the other days' without any
      sign within itself; off in every bundled profile).
    Shape drift (reshape.py; off in every bundled profile, all KOLs alike): rename_fields
      (note keys renamed), nest_metrics (metrics moved into an object), date_format
      ("epoch_ms"), list_key (data.list renamed), omit_total (no data.total).
    Test control: hold_after_calls holds every call after that many (received, counted, not
      answered) until it is raised or set to None: a process's calls in flight stay in flight
      for as long as a test needs (e.g. to send a signal while they are).
    """

    name: str = "custom"
    page_size: int = 8
    fixed_counts: Mapping[str, int] = field(default_factory=dict)
    as_of: date | None = None
    counts_on: date | None = None
    null_metric_share: float = 0.0
    note_content: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    extra_fields: bool = False

    latency_s: float = 0.0
    latency_jitter: float = 0.25

    valid_tokens: frozenset[str] | None = None
    revoked_tokens: frozenset[str] = frozenset()
    forbidden_users: frozenset[str] = frozenset()
    user_codes: Mapping[str, int] = field(default_factory=dict)
    daily_quota: int | None = None
    balance: int | None = None
    rate_limit_per_s: float | None = None
    rate_burst: float | None = None
    retry_after_s: int = 1

    p_301: float = 0.0
    p_500: float = 0.0
    p_http_429: float = 0.0
    p_http_503: float = 0.0
    p_html_502: float = 0.0
    p_truncated: float = 0.0
    p_stall: float = 0.0
    stall_s: float = 2.0
    stall_drop_share: float = 0.5
    p_string_numbers: float = 0.0

    dup_across_pages: bool = False
    total_drift: int = 0
    total_drift_down: bool = False
    p_note_omitted: float = 0.0

    rename_fields: Mapping[str, str] = field(default_factory=dict)
    nest_metrics: str | None = None
    date_format: str = "iso"
    list_key: str = "list"
    omit_total: bool = False
    hold_after_calls: int | None = None

    def __post_init__(self) -> None:
        # Normalise what callers naturally pass (dicts, sets, ISO strings) so the frozen
        # profile cannot be changed behind the simulator's back through a shared dict.
        for name in _MAPPINGS:
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        for name in _TOKEN_SETS:
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        if self.valid_tokens is not None:
            object.__setattr__(self, "valid_tokens", frozenset(self.valid_tokens))
        for name in _DATES:
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, date.fromisoformat(getattr(self, name)))
        for name in _PROBABILITIES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value!r}")
        if self.page_size < 1:
            raise ValueError("page_size must be at least 1")
        if self.total_drift < 0:
            raise ValueError("total_drift must be >= 0 (use total_drift_down for downward drift)")
        if self.latency_s < 0 or self.stall_s < 0:
            raise ValueError("latency_s and stall_s must be >= 0")
        if self.rate_limit_per_s is not None and self.rate_limit_per_s <= 0:
            raise ValueError("rate_limit_per_s must be positive or None")
        for user_id, content in self.note_content.items():
            unknown = set(content) - set(CONTENT_FIELDS)
            if unknown:
                raise ValueError(
                    f"note_content[{user_id!r}] may replace {', '.join(CONTENT_FIELDS)}, not {', '.join(sorted(unknown))}"
                )
        if any(count < 0 for count in self.fixed_counts.values()):
            raise ValueError("fixed_counts must be >= 0")
        if self.date_format not in DATE_FORMATS:
            raise ValueError(
                f"date_format must be one of {', '.join(DATE_FORMATS)}, got {self.date_format!r}"
            )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # MappingProxyType does not pickle; rebuild from plain dicts instead.
        values = [getattr(self, f.name) for f in dataclasses.fields(self)]
        return (Profile, tuple(dict(v) if isinstance(v, Mapping) else v for v in values))


def with_overrides(profile: Profile, overrides: Mapping[str, Any]) -> Profile:
    """``profile`` with fields replaced; ``anchor_date`` is the old name of ``as_of``."""
    fields = dict(overrides)
    # Before the world had a clock, anchor_date was the newest note's date: the day served.
    if "anchor_date" in fields:
        fields.setdefault("as_of", fields.pop("anchor_date"))
    return dataclasses.replace(profile, **fields)


_REALISTIC = Profile(name="realistic", latency_s=0.15, p_301=0.05, rate_limit_per_s=20.0)

PROFILES: dict[str, Profile] = {
    "clean": Profile(name="clean"),
    "realistic": _REALISTIC,
    "hostile": dataclasses.replace(
        _REALISTIC,
        name="hostile",
        p_500=0.01,
        p_http_429=0.01,
        p_http_503=0.01,
        p_html_502=0.02,
        p_truncated=0.02,
        p_stall=0.01,
        stall_s=2.0,
        p_string_numbers=0.10,
        null_metric_share=0.03,
        extra_fields=True,
        dup_across_pages=True,
        total_drift=1,
    ),
}


def starting_profile(profile: str | Profile, overrides: Mapping[str, Any]) -> Profile:
    """The profile a new simulator starts with: a bundled one by name, overridden, its clock set."""
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
        profile = PROFILES[profile]
    profile = with_overrides(profile, overrides)
    if profile.counts_on is None:
        # Pinned counts hold on the starting day; a later clock only adds notes.
        profile = dataclasses.replace(profile, counts_on=profile.as_of or today_cst())
    return profile
