"""Client of Just One API's Xiaohongshu PGY "Notes Details (V1)" endpoint.

Knows nothing about Dagster or DuckDB. Typical use::

    config = ClientConfig(token=token)
    with NotesDetailClient(config, observer=record_call) as client:
        result = client.fetch_all(NotesQuery("5c9f..."), known_pages=stored, on_page=persist)
"""

from .client import NotesDetailClient
from .config import DEFAULT_RATE_LIMIT_PER_S, ClientConfig, ClientSettings
from .drift import Drift
from .envelope import BILLED_CODES, CODE_TABLE, is_billed, page_from_raw
from .errors import (
    ApiError,
    BudgetExhausted,
    FetchIncomplete,
    InsufficientBalance,
    Interrupted,
    InvalidParameters,
    InvalidToken,
    MalformedResponse,
    NoContent,
    PermissionDenied,
    QuotaExceeded,
    RequestRejected,
    RetryableError,
    SchemaDrift,
    SchemaDriftStop,
    SlowDownError,
    StopAllCalls,
    UnbilledLimitReached,
    UnknownCode,
)
from .models import CallRecord, FetchResult, Note, Page
from .params import (
    ENDPOINT_PATH,
    PROD_CN_BASE_URL,
    PROD_GLOBAL_BASE_URL,
    AdvertiseSwitch,
    IsThirdPlatform,
    NotesQuery,
    NoteType,
    OrderType,
)
from .ratelimit import RateLimiter, limiter_key
from .redaction import install_log_redaction, redact, register_secret

__all__ = [
    "BILLED_CODES",
    "CODE_TABLE",
    "DEFAULT_RATE_LIMIT_PER_S",
    "ENDPOINT_PATH",
    "PROD_CN_BASE_URL",
    "PROD_GLOBAL_BASE_URL",
    "AdvertiseSwitch",
    "ApiError",
    "BudgetExhausted",
    "CallRecord",
    "ClientConfig",
    "ClientSettings",
    "Drift",
    "FetchIncomplete",
    "FetchResult",
    "InsufficientBalance",
    "Interrupted",
    "InvalidParameters",
    "InvalidToken",
    "IsThirdPlatform",
    "MalformedResponse",
    "NoContent",
    "Note",
    "NoteType",
    "NotesDetailClient",
    "NotesQuery",
    "OrderType",
    "Page",
    "PermissionDenied",
    "QuotaExceeded",
    "RateLimiter",
    "RequestRejected",
    "RetryableError",
    "SchemaDrift",
    "SchemaDriftStop",
    "SlowDownError",
    "StopAllCalls",
    "UnbilledLimitReached",
    "UnknownCode",
    "install_log_redaction",
    "is_billed",
    "limiter_key",
    "page_from_raw",
    "redact",
    "register_secret",
]
