"""Settings of the client; validated on construction so a typo fails before the first paid call.

``ClientSettings`` is the one definition of the knobs a user may turn: their names, bounds and
descriptions. The Dagster resource (defs/resources.py) inherits these fields, so the launchpad, a
``definitions.py`` and a test all meet the same bounds; ``ClientConfig`` adds where to call.
"""

from __future__ import annotations

import ipaddress
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from requests.adapters import HTTPAdapter

from .params import PROD_GLOBAL_BASE_URL

# What the vendor's plans commonly allow a token, and what the simulator's realistic profile enforces.
DEFAULT_RATE_LIMIT_PER_S = 20.0


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ClientSettings(BaseModel):
    """How the client talks to the API.

    A slow-down (302, HTTP 429) is not a failure of the page: it is waited out, however many answers
    that takes, until ``slow_down_max_wait_s`` seconds have passed since the page's first slow-down;
    only then does the page fail (SlowDownError, retryable later). Backoff is exponential with full
    jitter, capped by ``backoff_max_s``, which also caps a server's Retry-After for one wait.
    """

    # Inputs stay out of errors: one of them (ClientConfig.token) is the secret.
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    connect_timeout_s: float = Field(default=10.0, gt=0, description="Seconds to open a connection.")
    read_timeout_s: float = Field(default=60.0, gt=0, description="The vendor advises at least 60 s.")
    max_attempts: int = Field(
        default=4, ge=1, description="Attempts per page on retry-here outcomes (301, 500, timeouts)."
    )
    backoff_base_s: float = Field(default=0.5, ge=0, description="First backoff between attempts.")
    backoff_max_s: float = Field(
        default=30.0, ge=0, description="Longest backoff, and longest wait a Retry-After may ask."
    )
    slow_down_max_wait_s: float = Field(
        default=600.0,
        ge=0,
        description="How long one page may keep meeting 302/429 (waiting, never failing) before it fails as retryable.",
    )
    rate_limit_per_s: float | None = Field(
        default=None,
        ge=1,
        description=(
            "Ceiling of calls per second for this token, at least 1 (the limiter's floor). Unset: "
            f"PGY_RATE_LIMIT_PER_S where the run executes, else {DEFAULT_RATE_LIMIT_PER_S:g}."
        ),
    )
    max_pages: int = Field(
        default=250, ge=1, description="Hard cap of pages per KOL (every page bought is billed)."
    )
    page_workers: int = Field(
        default=4, ge=1, description="Pages of one KOL fetched in parallel once total is known."
    )


class ClientConfig(ClientSettings):
    """ClientSettings, and where to call with which token; the rate resolved.

    The token is excluded from repr and from validation errors; note that ``model_dump`` and
    pickling still carry it.
    """

    # Strict: "600" or True given in code is a mistake, not a number to guess at (the resource's
    # fields are typed by Dagster's config schema before they get here).
    model_config = ConfigDict(strict=True)

    token: str = Field(repr=False)
    base_url: str = PROD_GLOBAL_BASE_URL
    # Resolved here: a client always has a rate. Below 1 only with a lower limiter floor (tests).
    rate_limit_per_s: float = Field(default=DEFAULT_RATE_LIMIT_PER_S, gt=0)  # type: ignore[assignment]
    rate_limit_min_per_s: float = Field(default=1.0, gt=0, description="Floor the limiter slows to.")
    pool_maxsize: int = Field(default=32, ge=1)
    user_agent: str = "pgy-pipeline/0.1"

    @field_validator("token")
    @classmethod
    def _token_is_one_word(cls, token: str) -> str:
        if not token.strip():
            raise ValueError("token must be a non-empty string")
        if any(ch.isspace() for ch in token):
            raise ValueError("token must not contain whitespace (check for a trailing newline)")
        return token

    @field_validator("base_url")
    @classmethod
    def _base_url_is_a_plain_http_url(cls, base_url: str) -> str:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s):// URL with a host; got {base_url!r}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("base_url must not carry a query, fragment or credentials")
        return base_url.rstrip("/")

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> Any:
        if self.rate_limit_min_per_s > self.rate_limit_per_s:
            raise ValueError("rate_limit_min_per_s must not exceed rate_limit_per_s")
        return self

    @property
    def uses_plain_http(self) -> bool:
        """True when the token would travel unencrypted to a host other than this machine."""
        parts = urlsplit(self.base_url)
        return parts.scheme == "http" and not is_loopback_host(parts.hostname)

    def new_session(self) -> requests.Session:
        """The HTTP session a client owns: it ignores proxy/CA environment variables (no environment
        reads in this package), keeps no cookies and never retries on its own."""
        session = requests.Session()
        session.trust_env = False
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        # Retries are ours (they know the business codes); urllib3 must not retry behind our back.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_maxsize, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update({"Accept": "application/json", "User-Agent": self.user_agent})
        return session
