"""The endpoint's behaviour, without the HTTP plumbing: one call in, one reply out.

Checks run in this order, the first that fires answers the call:

1. path other than ENDPOINT_PATH -> HTTP 404 framework body;
2. per-call transport faults: stall (maybe dropped), HTML 502, HTTP 503, HTTP 429;
3. userId present but not ``[A-Za-z0-9_-]{1,64}`` -> HTTP 400 framework body;
4. token missing/unknown/revoked -> 100; rate limit -> 302; daily quota -> 303;
5. missing userId or bad enum/pageNumber -> 400 envelope naming the parameter;
6. balance spent -> 601; user_codes; forbidden_users -> 600; random 500, then 301;
7. success (code 0); p_truncated may then cut any envelope body.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .data import FILTERS, Note, check_filter, page_slice, select, stable_int
from .profiles import Profile, with_overrides
from .replies import HTML_502, Reply, envelope, framework
from .reshape import add_quirks, reshape
from .timeline import notes_on, today_cst

ENDPOINT_PATH = "/api/xiaohongshu-pgy/api/solar/kol/dataV2/notesDetail/v1"
_USER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PAGE = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Counters:
    """What the simulator has answered since the last reset (a snapshot)."""

    calls_total: int = 0
    by_code: dict[int, int] = field(default_factory=dict)
    by_http_status: dict[int, int] = field(default_factory=dict)
    by_user_page: dict[tuple[str, int], int] = field(default_factory=dict)
    by_user: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    held: int = 0  # calls received and held now (Profile.hold_after_calls), not answered yet


class Endpoint:
    """State and behaviour of the fake endpoint; thread-safe, shared by all handler threads."""

    def __init__(self, profile: Profile, seed: int, stopping: threading.Event) -> None:
        self._profile = profile
        self.seed = seed
        # Set on shutdown so latency and stall sleeps end at once instead of holding threads.
        self._stopping = stopping
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)  # notified when the hold changes
        self._held = 0
        self._fault_rng = random.Random(stable_int(seed, "faults"))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._quota_used: Counter[str] = Counter()
        self._spent: Counter[str] = Counter()
        self._reset_counts()

    @property
    def profile(self) -> Profile:
        with self._lock:
            return self._profile

    def update(self, overrides: dict[str, Any]) -> Profile:
        with self._lock:
            self._profile = with_overrides(self._profile, overrides)
            self._released.notify_all()
            return self._profile

    def _reset_counts(self) -> None:
        self._calls = 0
        self._by_code: Counter[int] = Counter()
        self._by_status: Counter[int] = Counter()
        self._by_user_page: Counter[tuple[str, int]] = Counter()
        self._by_user: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def counters(self) -> Counters:
        with self._lock:
            return Counters(
                calls_total=self._calls,
                by_code=dict(self._by_code),
                by_http_status=dict(self._by_status),
                by_user_page=dict(self._by_user_page),
                by_user=dict(self._by_user),
                faults=dict(self._faults),
                held=self._held,
            )

    def reset_counters(self) -> None:
        with self._lock:
            self._reset_counts()

    def reset_usage(self) -> None:
        with self._lock:
            self._quota_used.clear()
            self._spent.clear()
            self._buckets.clear()

    def _notes(self, profile: Profile, user_id: str, as_of: date | None = None) -> tuple[Note, ...]:
        day = self._day(profile, as_of)
        pinned = profile.fixed_counts.get(user_id)
        counts_on = profile.counts_on if pinned is not None else None
        notes = notes_on(self.seed, user_id, day, pinned, counts_on, profile.null_metric_share)
        content = profile.note_content.get(user_id)
        if not content:
            return notes
        # A brand belongs to cooperation notes only, as on the platform.
        return tuple(
            replace(
                n,
                title=content.get("title", n.title),
                img_url=content.get("img_url", n.img_url),
                brand_name=n.brand_name and content.get("brand_name", n.brand_name),
            )
            for n in notes
        )

    @staticmethod
    def _day(profile: Profile, as_of: date | None = None) -> date:
        return as_of or profile.as_of or today_cst()

    def _listed(self, profile: Profile, user_id: str, notes: list[Note]) -> list[Note]:
        """The notes today's listing shows: each left out with ``p_note_omitted``, the same on every call of the day."""
        day = self._day(profile).isoformat()
        return [
            n
            for n in notes
            if stable_int(self.seed, user_id, n.note_id, day, "omit") / 2**64 >= profile.p_note_omitted
        ]

    def expected_notes(self, user_id: str, as_of: date | None, *filters: str) -> list[dict[str, Any]]:
        """What a perfect client ends up with on ``as_of``, in paging order, without extra_fields.

        ``filters`` are ``select``'s: advertise_switch, order_type, note_type, is_third_platform.
        """
        return [n.to_vendor() for n in select(self._notes(self.profile, user_id, as_of), *filters)]

    # -- request handling ----------------------------------------------------------------
    def _fault(self, name: str) -> None:
        with self._lock:
            self._faults[name] += 1

    def _take_rate_token(self, profile: Profile, token: str) -> int | None:
        """None if the call may proceed, else the Retry-After seconds."""
        rate = profile.rate_limit_per_s
        if rate is None:
            return None
        burst = profile.rate_burst or max(1.0, rate)
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(token, (burst, now))
            level = min(burst, level + (now - last) * rate)
            if level >= 1.0:
                self._buckets[token] = (level - 1.0, now)
                return None
            self._buckets[token] = (level, now)
        return max(1, math.ceil((1.0 - level) / rate))

    def respond(self, raw_path: str) -> Reply:
        url = urlsplit(raw_path)
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        user_id, page_raw = params.get("userId", ""), params.get("pageNumber", "") or "1"
        page = int(page_raw) if _PAGE.fullmatch(page_raw) and int(page_raw) > 0 else None
        with self._lock:
            profile = self._profile
            self._calls += 1
            if user_id:
                self._by_user[user_id] += 1
                if page is not None:
                    self._by_user_page[(user_id, page)] += 1
            rng = random.Random(self._fault_rng.getrandbits(64))
            profile = self._hold(self._calls)
        reply = self._answer(profile, rng, url.path, params, user_id, page)
        with self._lock:
            if not reply.drop:
                self._by_status[reply.status] += 1
            if reply.code is not None:
                self._by_code[reply.code] += 1
        return reply

    def _hold(self, number: int) -> Profile:
        """Hold call ``number`` while the profile says so (caller holds the lock); the profile to answer with."""
        held = False
        while (after := self._profile.hold_after_calls) is not None and number > after:
            if self._stopping.is_set():
                break
            self._held += not held
            held = True
            self._released.wait(0.05)
        self._held -= held
        return self._profile

    def _answer(
        self,
        profile: Profile,
        rng: random.Random,
        path: str,
        params: dict[str, str],
        user_id: str,
        page: int | None,
    ) -> Reply:
        # A fixed number of draws per call keeps the fault stream reproducible per seed.
        u = [rng.random() for _ in range(11)]
        if path != ENDPOINT_PATH:
            return framework(404, path)
        if profile.latency_s:
            self._stopping.wait(profile.latency_s * (1 + profile.latency_jitter * (2 * u[0] - 1)))
        if u[1] < profile.p_stall:
            self._fault("stall")
            self._stopping.wait(profile.stall_s)
            if u[2] < profile.stall_drop_share or self._stopping.is_set():
                self._fault("stall_drop")
                return Reply(drop=True)
        if u[3] < profile.p_html_502:
            self._fault("html_502")
            return Reply(status=502, body=HTML_502, content_type="text/html")
        if u[4] < profile.p_http_503:
            self._fault("http_503")
            return framework(503, path)
        if u[5] < profile.p_http_429:
            self._fault("http_429")
            reply = framework(429, path, message="rate or daily quota limit exceeded")
            reply.headers["Retry-After"] = str(profile.retry_after_s)
            return reply
        if user_id and not _USER_ID.fullmatch(user_id):
            return framework(400, path)
        reply = self._business(profile, rng, u, params, user_id, page)
        if reply.status == 200 and u[9] < profile.p_truncated:
            self._fault("truncated")
            cut = max(1, min(len(reply.body) - 1, int(len(reply.body) * (0.3 + 0.4 * u[10]))))
            reply.body = reply.body[:cut]
        return reply

    def _business(
        self,
        profile: Profile,
        rng: random.Random,
        u: list[float],
        params: dict[str, str],
        user_id: str,
        page: int | None,
    ) -> Reply:
        token = params.get("token", "")
        if (
            not token
            or token in profile.revoked_tokens
            or (profile.valid_tokens is not None and token not in profile.valid_tokens)
        ):
            return envelope(100)
        retry_after = self._take_rate_token(profile, token)
        if retry_after is not None:
            reply = envelope(302)
            reply.headers["Retry-After"] = str(retry_after)
            return reply
        with self._lock:
            self._quota_used[token] += 1
            over_quota = profile.daily_quota is not None and self._quota_used[token] > profile.daily_quota
        if over_quota:
            return envelope(303)
        if not user_id:
            return envelope(400, "Invalid Parameters: userId is required")
        filters = {name: params.get(name) or allowed[0] for name, allowed in FILTERS.items()}
        for name, value in filters.items():
            try:
                check_filter(name, value)
            except ValueError as exc:
                return envelope(400, f"Invalid Parameters: {exc}")
        if page is None:
            return envelope(400, "Invalid Parameters: pageNumber must be a positive integer")
        if profile.balance is not None and self._spent[token] >= profile.balance:
            return envelope(601)
        if user_id in profile.user_codes:
            self._fault("user_code")
            code = profile.user_codes[user_id]
            if code == 201 and profile.balance is not None:
                with self._lock:  # 201 is billed too: the request was processed
                    self._spent[token] += 1
            return envelope(code)
        if user_id in profile.forbidden_users:
            return envelope(600)
        if u[6] < profile.p_500:
            self._fault("code_500")
            return envelope(500)
        if u[7] < profile.p_301:
            self._fault("code_301")
            return envelope(301)
        if profile.balance is not None:
            # Charged only on success; re-checked under the lock so parallel calls cannot overspend.
            with self._lock:
                if self._spent[token] >= profile.balance:
                    return envelope(601)
                self._spent[token] += 1
        return envelope(0, data=self._page_data(profile, rng, u[8], user_id, page, filters))

    def _page_data(
        self,
        profile: Profile,
        rng: random.Random,
        u_str: float,
        user_id: str,
        page: int,
        filters: dict[str, str],
    ) -> dict[str, Any]:
        notes = select(
            self._notes(profile, user_id),
            advertise_switch=filters["advertiseSwitch"],
            order_type=filters["orderType"],
            note_type=filters["noteType"],
            is_third_platform=filters["isThirdPlatform"],
        )
        if profile.p_note_omitted:
            listed = self._listed(profile, user_id, notes)
            if len(listed) < len(notes) and page == 1:
                self._fault("note_omitted")
            notes = listed
        chosen = page_slice(notes, page, profile.page_size, profile.dup_across_pages)
        items = [n.to_vendor() for n in chosen]
        data: dict[str, Any] = {"list": items, "total": len(notes)}
        if profile.dup_across_pages and page > 1 and items:
            self._fault("dup_across_pages")
        if any(n.collect_num is None or n.third_read_user_num is None for n in chosen):
            self._fault("null_metric")
        for quirk in add_quirks(profile, data, self.seed, user_id, page, u_str < profile.p_string_numbers):
            self._fault(quirk)
        if profile.total_drift:
            drift = rng.randint(-profile.total_drift if profile.total_drift_down else 0, profile.total_drift)
            if drift:
                self._fault("total_drift")
                data["total"] = max(0, len(notes) + drift)
        data, changes = reshape(profile, data)
        for change in changes:
            self._fault(change)
        return data
