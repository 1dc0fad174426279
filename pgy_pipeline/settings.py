"""The environment, read in one place and only when asked (never at import time).

Dagster loads the code location in the webserver and the daemon, and runs it again in
each run worker; those processes need not share an environment. So nothing here is read
when a module is imported: the token in particular is resolved where a run executes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pgy_pipeline.justoneapi import PROD_CN_BASE_URL, PROD_GLOBAL_BASE_URL
from pgy_pipeline.s3 import S3Config

TOKEN_ENV = "JUSTONEAPI_TOKEN"
BASE_URL_ENV = "JUSTONEAPI_BASE_URL"
DATA_DIR_ENV = "PGY_DATA_DIR"
SIMULATOR_PROFILE_ENV = "PGY_SIMULATOR_PROFILE"
TODAY_ENV = "PGY_TODAY"
# The platform's day, the quota's day and the day of the engagement windows.
PIPELINE_TZ = ZoneInfo("Asia/Shanghai")

# The id recorded for data from any simulator (embedded or `pgy simulator`): its port
# changes between runs, its data is simulated all the same.
SIMULATOR_SOURCE = "simulator"
# Both production bases serve the same data; switching between them is no change of source.
JUSTONEAPI_SOURCE = "justoneapi"


def _get(name: str) -> str | None:
    return os.environ.get(name) or None


def data_dir() -> Path:
    """Where pgy.duckdb, the raw pages and the pipeline's state live (``PGY_DATA_DIR``, default data/)."""
    return Path(_get(DATA_DIR_ENV) or "data")


# Past one machine (README "Production"): where the warehouse, the state and the raw pages live
# when runs share no disk. Unset, everything stays under the data dir, as on a laptop.
WAREHOUSE_URL_ENV = "PGY_WAREHOUSE_URL"
LAKE_DATA_PATH_ENV = "PGY_LAKE_DATA_PATH"
STATE_URL_ENV = "PGY_STATE_URL"
RAW_URL_ENV = "PGY_RAW_URL"
REPORT_URL_ENV = "PGY_REPORT_URL"


def warehouse_url() -> str | None:
    """``ducklake:postgres:<libpq conninfo>`` or ``ducklake:sqlite:<file>``; None: the DuckDB file.
    A secret when it carries a password (prefer PGPASSWORD): never logged."""
    value = _get(WAREHOUSE_URL_ENV)
    if value is not None and not value.startswith(("ducklake:postgres:", "ducklake:sqlite:")):
        raise ValueError(
            f"{WAREHOUSE_URL_ENV} must start with ducklake:postgres: or ducklake:sqlite: (unset: the DuckDB file)"
        )
    return value


def lake_data_path(base: Path | None = None) -> str:
    """Where a lake's Parquet files go: ``PGY_LAKE_DATA_PATH`` (a folder or ``s3://bucket/prefix/``),
    default ``<data dir>/lake/``."""
    return _get(LAKE_DATA_PATH_ENV) or f"{(base or data_dir()).absolute()}/lake/"


def state_url() -> str | None:
    """``postgresql://user@host:port/db`` for the pipeline's state on PostgreSQL; None: SQLite files
    under ``<data>/.state/``. A secret when it carries a password (prefer PGPASSWORD)."""
    value = _get(STATE_URL_ENV)
    if value is not None and not value.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"{STATE_URL_ENV} must be a postgresql:// URL (unset: SQLite under the data dir)")
    return value


def raw_url() -> str | None:
    """``s3://bucket/prefix`` for the raw pages in a bucket; None: ``<data>/raw/``."""
    value = _get(RAW_URL_ENV)
    if value is not None and not value.startswith("s3://"):
        raise ValueError(f"{RAW_URL_ENV} must be an s3://bucket/prefix URL (unset: <data dir>/raw)")
    return value


def report_url() -> str | None:
    """``s3://bucket/prefix`` where each report written is copied; None: the data dir's only."""
    value = _get(REPORT_URL_ENV)
    if value is not None and not value.startswith("s3://"):
        raise ValueError(
            f"{REPORT_URL_ENV} must be an s3://bucket/prefix URL (unset: <data dir>/reports only)"
        )
    return value


def s3_config() -> S3Config:
    """The S3-compatible server of ``s3://`` URLs: ``PGY_S3_ENDPOINT`` (``http://host:port``; unset:
    AWS), ``PGY_S3_REGION``, and the standard ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``."""
    return S3Config(
        endpoint=_get("PGY_S3_ENDPOINT"),
        region=_get("PGY_S3_REGION") or "us-east-1",
        key_id=_get("AWS_ACCESS_KEY_ID"),
        secret=_get("AWS_SECRET_ACCESS_KEY"),
    )


def roster_path(base: Path | None = None) -> Path:
    return (base or data_dir()) / "kols.csv"


def _calls(name: str) -> int | None:
    value = _get(name)
    if value is None:
        return None
    try:
        calls = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of calls; got {value!r}") from None
    if calls < 0:
        raise ValueError(f"{name} must be >= 0; got {calls}")
    return calls


def daily_call_budget() -> int | None:
    """Most billed calls per China day (``PGY_DAILY_CALL_BUDGET``); None: no cap."""
    return _calls("PGY_DAILY_CALL_BUDGET")


# About twice the calls of a full refresh of 1,000 KOLs: a storm of unbilled answers (301s) that
# reaches it is retrying a failing API, not buying data. At 20 calls/s it takes ~40 minutes.
DEFAULT_UNBILLED_CALL_LIMIT = 50_000


def daily_unbilled_call_limit() -> int:
    """Most calls per China day the vendor does not bill (``PGY_DAILY_UNBILLED_CALL_LIMIT``)."""
    limit = _calls("PGY_DAILY_UNBILLED_CALL_LIMIT")
    return DEFAULT_UNBILLED_CALL_LIMIT if limit is None else limit


RATE_LIMIT_ENV = "PGY_RATE_LIMIT_PER_S"


def rate_limit_per_s() -> float | None:
    """The token's calls per second (``PGY_RATE_LIMIT_PER_S``), None when unset; at least 1."""
    value = _get(RATE_LIMIT_ENV)
    if value is None:
        return None
    try:
        rate = float(value)
    except ValueError:
        raise ValueError(f"{RATE_LIMIT_ENV} must be a number of calls per second; got {value!r}") from None
    # The client's limiter slows down to 1 call/s at the least (ClientConfig.rate_limit_min_per_s).
    if not math.isfinite(rate) or rate < 1:
        raise ValueError(f"{RATE_LIMIT_ENV} must be at least 1 (call per second); got {value!r}")
    return rate


def _pinned_day() -> date | None:
    value = _get(TODAY_ENV)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{TODAY_ENV} must be a date YYYY-MM-DD; got {value!r}") from None


def now() -> datetime:
    """The pipeline's clock (UTC). ``PGY_TODAY`` moves it to that Asia/Shanghai day, time of day kept.

    A whole-day shift, not a frozen instant: time still runs within the pinned day, so the
    order of fetches, pages and calls stays true and a simulated day behaves like a real one
    (the engagement windows, the full-refresh rota, the "fetched recently" skip, the budget day).
    """
    real = datetime.now(UTC)
    pinned = _pinned_day()
    if pinned is None:
        return real
    return real + timedelta(days=(pinned - real.astimezone(PIPELINE_TZ).date()).days)


def today() -> date:
    """Today in Asia/Shanghai, or the day ``PGY_TODAY`` pins."""
    return _pinned_day() or datetime.now(UTC).astimezone(PIPELINE_TZ).date()


def simulator_profile() -> str:
    return _get(SIMULATOR_PROFILE_ENV) or "realistic"


def schedule_cron(default: str) -> str:
    return _get("PGY_SCHEDULE_CRON") or default


def schedule_timezone(default: str) -> str:
    return _get("PGY_SCHEDULE_TIMEZONE") or default


@dataclass(frozen=True)
class ApiSource:
    """Which API a run talks to. ``token`` is None for a simulator; never print this object whole."""

    source_id: str  # what the warehouse records: SIMULATOR_SOURCE, JUSTONEAPI_SOURCE or a base URL
    base_url: str | None  # None: start the embedded simulator
    token: str | None

    @property
    def simulated(self) -> bool:
        return self.source_id == SIMULATOR_SOURCE

    def describe(self) -> str:
        if not self.simulated:
            return f"Just One API at {self.base_url}"
        if self.base_url:
            return f"the simulator at {self.base_url} (simulated data)"
        return "the bundled simulator (simulated data; JUSTONEAPI_TOKEN is not set)"

    def __repr__(self) -> str:  # the token must not reach a log line through a repr
        return f"ApiSource({self.source_id!r}, {self.base_url!r})"


def api_source(token: str | None = None, base_url: str | None = None) -> ApiSource:
    """The API this process would call: explicit arguments first, then the environment.

    Without a token, a simulator is used: the embedded one, or the one at
    ``JUSTONEAPI_BASE_URL``. With a token, prod-global unless a base URL is given.
    """
    token = token or _get(TOKEN_ENV)
    base_url = (base_url or _get(BASE_URL_ENV) or "").rstrip("/") or None
    if not token:
        return ApiSource(SIMULATOR_SOURCE, base_url, None)
    url = base_url or PROD_GLOBAL_BASE_URL
    known = url in (PROD_GLOBAL_BASE_URL, PROD_CN_BASE_URL)
    return ApiSource(JUSTONEAPI_SOURCE if known else url, url, token)


SIMULATED_NOTICE = "Simulated data: these figures come from the bundled simulator, not from Just One API."
