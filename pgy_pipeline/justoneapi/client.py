"""The HTTP client of Notes Details (V1): one call, our own bounded retries, and the stop-all switch."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .config import ClientConfig
from .drift import DRIFT_STOP_KOLS, Drift
from .envelope import Reading, build_page, classify
from .errors import ApiError, Interrupted, RetryableError, SchemaDriftStop, StopAllCalls
from .models import CallRecord, FetchResult, Page
from .pagination import CallTally, PageShare, fetch_all
from .params import ENDPOINT_PATH, NotesQuery
from .ratelimit import RateLimiter, limiter_key
from .redaction import install_log_redaction, register_secret, strip_query

logger = logging.getLogger("pgy_pipeline.justoneapi")

_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")\]]*")


def _describe(exc: requests.RequestException) -> str:
    # The requests exception text embeds the request URL (token included); keep only the reason.
    text = str(exc)
    errno = _ERRNO.search(text)
    if errno:
        reason = errno.group(0).strip()
    elif isinstance(exc, requests.ReadTimeout):
        reason = "read timed out"
    elif isinstance(exc, requests.ConnectTimeout):
        reason = "connect timed out"
    else:
        reason = text.split("(Caused by", 1)[0][:200]
    return strip_query(f"{type(exc).__name__}: {reason}")


class NotesDetailClient:
    """Calls Notes Details (V1) with retries, pacing and a process-safe stop switch.

    - ``observer(record)`` receives a CallRecord for every HTTP attempt, from whichever thread made it;
      an exception in it is logged and ignored (bookkeeping must not fail a paid call).
    - ``before_call()`` runs before every HTTP attempt (a budget governor); if it raises StopAllCalls
      (e.g. BudgetExhausted) no request is made and the client stops. ``after_call(record)`` runs after
      every attempt ``before_call`` let through, so the governor can settle what it reserved (an
      exception in it is logged and ignored, like the observer's).
    - Once ``DRIFT_STOP_KOLS`` KOLs answered pages that break the data contract (drift.py), the client
      stops with SchemaDriftStop: the vendor changed its answers for everyone, and every further page
      bought would be money spent on a shape the code cannot read yet.
    - Once any call meets a StopAllCalls outcome (token, quota, balance, budget), every later call of this
      client raises the same kind at once without touching the network, and sleeping retries wake up.
    - ``clock`` stamps pages and call records (default: the wall clock in UTC).
    - ``session``: a caller-provided session is used as is and not closed by the client. The client's own
      session ignores proxy/CA environment variables (no environment reads in this package), keeps no
      cookies and does not follow redirects (the token would go along to the new location).
    """

    def __init__(
        self,
        config: ClientConfig,
        observer: Callable[[CallRecord], None] | None = None,
        before_call: Callable[[], None] | None = None,
        session: requests.Session | None = None,
        *,
        after_call: Callable[[CallRecord], None] | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        install_log_redaction()
        register_secret(config.token)
        if config.uses_plain_http:
            logger.warning("base URL %s uses plain HTTP: the token travels unencrypted", config.base_url)
        self.config = config
        self._observer = observer
        self._before_call = before_call
        self._after_call = after_call
        self._drifted_kols: set[str] = set()
        self._pages_in_flight = PageShare(config.page_workers)  # shared by the KOLs fetched at once
        self._owns_session = session is None
        self._session = session if session is not None else self._new_session()
        self._url = config.base_url + ENDPOINT_PATH
        self.limiter = limiter or RateLimiter.shared(
            limiter_key(config.base_url, config.token), config.rate_limit_per_s, config.rate_limit_min_per_s
        )
        self._stop_lock = threading.RLock()  # interrupt() may run in a signal handler
        self._stopped: StopAllCalls | None = None
        self._stop_event = threading.Event()
        self._random = random.Random()
        # When pages and calls happened, as the pipeline counts time (a pinned simulated day
        # shifts it); the default is the wall clock. Pages and fetches must share one clock.
        self._clock = clock or (lambda: datetime.now(UTC))

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        # Retries are ours (they know the business codes); urllib3 must not retry behind our back.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.config.pool_maxsize, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update({"Accept": "application/json", "User-Agent": self.config.user_agent})
        return session

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> NotesDetailClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NotesDetailClient(base_url={self.config.base_url!r}, stopped={self._stopped is not None})"

    @property
    def stopped(self) -> StopAllCalls | None:
        """The StopAllCalls that halted this client, or None while calls may still be made."""
        return self._stopped

    def get_page(self, query: NotesQuery, page_number: int) -> Page:
        """One page (code 0), after the client's own retries; raises an ApiError subclass otherwise."""
        return self._get_page(query, page_number, None)

    def fetch_all(
        self,
        query: NotesQuery,
        known_pages: Mapping[int, Page] | None = None,
        on_page: Callable[[Page], None] | None = None,
        *,
        stop_before: date | None = None,
    ) -> FetchResult:
        """Every page of ``query``, deduplicated by note id; see ``FetchResult`` for the stop reasons.

        ``known_pages`` (stored by an earlier attempt of this same query) cost no call. ``on_page`` sees
        each bought page, one at a time, so the caller can store it before the fetch ends. A failed page
        raises FetchIncomplete carrying what was read, so a retry buys only what is missing.
        ``stop_before`` (LATEST order only) ends an incremental fetch after the first page reaching back
        past that date: such a fetch is never evidence that a note is gone.
        Fetches running at once through this client share their pages in flight (PageShare): up to
        ``page_workers`` each, more for the last ones left when others have ended.
        """
        with self._pages_in_flight.joined() as page_workers:
            return fetch_all(
                self._get_page,
                query,
                max_pages=self.config.max_pages,
                page_workers=page_workers,
                known_pages=known_pages,
                on_page=on_page,
                stop_before=stop_before,
            )

    def interrupt(self, reason: str) -> None:
        """Stop every later call (``Interrupted``); calls in flight finish. Safe in a signal handler:
        it only sets a flag and wakes the sleeping retries, and logs nothing."""
        self._stop(Interrupted(reason), quiet=True)

    def _stop(self, error: StopAllCalls, *, quiet: bool = False) -> None:
        with self._stop_lock:
            if self._stopped is not None:
                return
            self._stopped = error
        self._stop_event.set()
        if not quiet:
            # INFO: the caller reports the stop (the run's failure, `pgy refresh`, the alert).
            logger.info("stopping all calls: %s", error)

    def _stopped_error(self, user_id: str, page_number: int) -> ApiError | None:
        stopped = self._stopped
        return None if stopped is None else stopped.copy(user_id=user_id, page_number=page_number)

    def _gate(self, user_id: str, page_number: int) -> ApiError | None:
        """The error that forbids the next attempt (client stopped, budget governor said no), or None."""
        error: ApiError | None = self._stopped_error(user_id, page_number)
        if error is None and self._before_call is not None:
            try:
                self._before_call()
            except StopAllCalls as exc:
                error = exc.copy(user_id=user_id, page_number=page_number)
        if isinstance(error, StopAllCalls):
            self._stop(error)
        return error

    def _backoff(self, failures: int) -> float:
        # The exponent is bounded: a long slow-down can count hundreds of answers, and 2.0**1100 overflows.
        cap = min(self.config.backoff_max_s, self.config.backoff_base_s * 2.0 ** min(failures - 1, 60))
        return self._random.uniform(0, cap)  # full jitter: spreads retries of many threads apart

    def _attempt(self, params: Mapping[str, Any], user_id: str, page_number: int) -> tuple[Reading, float]:
        started = time.perf_counter()
        failure: tuple[str, str] | None = None
        try:
            response = self._session.get(
                self._url,
                params={"token": self.config.token, **params},
                timeout=(self.config.connect_timeout_s, self.config.read_timeout_s),
                allow_redirects=False,
            )
            status, headers, content = response.status_code, response.headers, response.content
        except requests.Timeout as exc:
            failure = ("timeout", _describe(exc))
        except requests.ConnectionError as exc:
            failure = ("connection_error", _describe(exc))
        except requests.RequestException as exc:
            kind = "broken_body" if isinstance(exc, requests.exceptions.ChunkedEncodingError) else "transport"
            failure = (kind, _describe(exc))
        latency = time.perf_counter() - started
        if failure is not None:
            # Built outside the except blocks: the requests exception (URL and all) is not kept anywhere.
            kind, detail = failure
            error = RetryableError(detail, kind=kind, user_id=user_id, page_number=page_number)
            return Reading("retry", 0, "", error=error), latency
        reading = classify(status, headers, content, user_id=user_id, page_number=page_number)
        return reading, latency

    def _drifted(self, user_id: str, drift: Drift) -> None:
        with self._stop_lock:
            self._drifted_kols.add(user_id)
            kols = len(self._drifted_kols)
        if kols >= DRIFT_STOP_KOLS:
            self._stop(SchemaDriftStop(f"{kols} KOLs' answers changed shape: {drift.detail}", drift=drift))

    def _report(self, record: CallRecord, tally: CallTally | None) -> None:
        if self._after_call is not None:
            try:
                self._after_call(record)
            except Exception:
                logger.warning("after_call raised; the call itself is unaffected", exc_info=True)
        if tally is not None:
            tally.add(record)
        logger.debug(
            "notesDetail user=%s page=%d attempt=%d -> %s (HTTP %s, code %s) in %.3fs",
            record.user_id,
            record.page_number,
            record.attempt,
            record.outcome,
            record.http_status,
            record.code,
            record.latency_s,
        )
        if self._observer is not None:
            try:
                self._observer(record)
            except Exception:
                logger.warning("call observer raised; the call itself is unaffected", exc_info=True)

    def _get_page(self, query: NotesQuery, page_number: int, tally: CallTally | None) -> Page:
        params = query.to_params(page_number)
        user_id = query.user_id
        attempt = failures = slow_downs = 0
        slowed_since: float | None = None
        while True:
            error = self._stopped_error(user_id, page_number)
            if error is None:
                self.limiter.acquire()
                error = self._gate(user_id, page_number)  # a stop may also have come while we waited
            if error is not None:
                raise error
            attempt += 1
            at = self._clock()
            reading, latency = self._attempt(params, user_id, page_number)
            error = reading.error
            self._report(
                CallRecord(
                    user_id=user_id,
                    page_number=page_number,
                    attempt=attempt,
                    http_status=reading.http_status or None,
                    code=reading.code,
                    outcome=reading.outcome,
                    latency_s=latency,
                    error=None if error is None else str(error),
                    at=at,
                ),
                tally,
            )
            if error is None:
                self.limiter.on_success()
                fetched_at = self._clock()
                if reading.drift is not None:
                    self._drifted(user_id, reading.drift)
                return build_page(
                    reading, query, page_number, attempts=attempt, latency_s=latency, fetched_at=fetched_at
                )
            if isinstance(error, StopAllCalls):
                self._stop(error)
                raise error
            if reading.outcome in ("rejected", "no_content"):
                raise error
            if reading.outcome == "slow_down":
                # A slow-down says nothing about this KOL, only about our pace: it is waited out by time,
                # however many answers that takes, and never uses up max_attempts.
                self.limiter.on_slow_down()
                slow_downs += 1
                now = time.monotonic()
                slowed_since = now if slowed_since is None else slowed_since
                remaining = self.config.slow_down_max_wait_s - (now - slowed_since)
                if remaining <= 0:
                    waited = f"{now - slowed_since:.1f}s and {slow_downs} slow-downs"
                    raise error.copy(message=f"{error.message} (still rate limited after {waited})")
                hinted = reading.retry_after_s
                delay = self._backoff(slow_downs) if hinted is None else hinted
                delay = min(delay, self.config.backoff_max_s, remaining)
            else:
                failures += 1
                if failures >= self.config.max_attempts:
                    tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
                    raise error.copy(message=f"{error.message} (gave up after {tries})")
                delay = self._backoff(failures)  # at most backoff_max_s
            logger.info("%s; retrying in %.2fs (attempt %d)", error, delay, attempt)
            # Waiting on the stop event: a stop-all from another thread ends this wait at once.
            self._stop_event.wait(delay)
