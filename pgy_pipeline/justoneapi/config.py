"""Settings of the client; validated on construction so a typo fails before the first paid call."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .params import PROD_GLOBAL_BASE_URL


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """How the client talks to the API.

    ``max_attempts`` bounds attempts at one page for retry-here outcomes (301, 500, transport errors).
    A slow-down (302, HTTP 429) is not a failure of the page: it is waited out, however many answers
    that takes, until ``slow_down_max_wait_s`` seconds have passed since the page's first slow-down;
    only then does the page fail (SlowDownError, retryable later). Backoff is exponential with full
    jitter, capped by ``backoff_max_s``, which also caps a server's Retry-After for one wait.
    ``rate_limit_per_s`` is the ceiling of the shared limiter, ``max_pages`` the hard cap per query (every
    call costs money), ``page_workers`` the parallel page fetches once page 1 told us the total.
    The token is excluded from repr; note that ``dataclasses.asdict`` and pickling still carry it.
    """

    token: str = field(repr=False)
    base_url: str = PROD_GLOBAL_BASE_URL
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    slow_down_max_wait_s: float = 600.0
    rate_limit_per_s: float = 20.0
    rate_limit_min_per_s: float = 1.0
    max_pages: int = 250
    page_workers: int = 4
    pool_maxsize: int = 32
    user_agent: str = "pgy-pipeline/0.1"

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token.strip():
            raise ValueError("token must be a non-empty string")
        if any(ch.isspace() for ch in self.token):
            raise ValueError("token must not contain whitespace (check for a trailing newline)")
        parts = urlsplit(self.base_url) if isinstance(self.base_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s):// URL with a host; got {self.base_url!r}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("base_url must not carry a query, fragment or credentials")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        positive = ("connect_timeout", "read_timeout", "rate_limit_per_s", "rate_limit_min_per_s")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be > 0; got {value!r}")
        for name in ("backoff_base_s", "backoff_max_s", "slow_down_max_wait_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"{name} must be >= 0; got {value!r}")
        for name, low in (
            ("max_attempts", 1),
            ("max_pages", 1),
            ("page_workers", 1),
            ("pool_maxsize", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if self.rate_limit_min_per_s > self.rate_limit_per_s:
            raise ValueError("rate_limit_min_per_s must not exceed rate_limit_per_s")

    @property
    def uses_plain_http(self) -> bool:
        """True when the token would travel unencrypted to a host other than this machine."""
        parts = urlsplit(self.base_url)
        return parts.scheme == "http" and not is_loopback_host(parts.hostname)
