"""The HTTP client of Notes Details (V1): every page of one query, and the calls that buy them.

- ``NotesDetailClient.fetch_all`` reads every page of one query: one page at a time, or a bounded
  window of them in parallel; pages stored by an earlier attempt are reused; each bought page is
  handed to the caller as it comes. When to stop is stop_rules.py's.
- Each page is one call, made again on our own bounded retries (retry_rules.py), paced by the
  shared rate limiter (ratelimit.py); the stop-all switch (stop_switch.py) ends every call once
  a run-wide stop is met.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any

import requests

from .call_hooks import CallHooks
from .config import ClientConfig
from .envelope import Reading, build_page, classify
from .errors import ApiError, FetchIncomplete, Interrupted, RetryableError, SchemaDrift, StopAllCalls
from .models import CallRecord, CallTally, FetchResult, Page
from .page_share import PageShare, Workers
from .params import ENDPOINT_PATH, NotesQuery, OrderType
from .ratelimit import RateLimiter, limiter_key
from .redaction import install_log_redaction, register_secret, transport_failure
from .retry_rules import PageRetries
from .stop_rules import PagesSeen, Reread, Stop, reusable_pages
from .stop_switch import StopSwitch

logger = logging.getLogger("pgy_pipeline.justoneapi")

PageFetcher = Callable[[NotesQuery, int, CallTally], Page]


class NotesDetailClient:
    """Calls Notes Details (V1) with retries, pacing and a process-safe stop switch.

    - ``observer``, ``before_call`` and ``after_call`` run around each HTTP attempt (call_hooks.py).
    - Once any call meets a StopAllCalls outcome (token, quota, balance, budget), or answers drift for
      ``DRIFT_STOP_KOLS`` KOLs, every later call raises at once without touching the network
      (stop_switch.py).
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
        self._hooks = CallHooks(observer, before_call, after_call)
        self._pages_in_flight = PageShare(config.page_workers)  # shared by the KOLs fetched at once
        self._owns_session = session is None
        self._session = session if session is not None else config.new_session()
        self._url = config.base_url + ENDPOINT_PATH
        self.limiter = limiter or RateLimiter.shared(
            limiter_key(config.base_url, config.token), config.rate_limit_per_s, config.rate_limit_min_per_s
        )
        self._switch = StopSwitch()
        self._random = random.Random()  # the retries' jitter
        # When pages and calls happened, as the pipeline counts time (a pinned simulated day
        # shifts it); the default is the wall clock. Pages and fetches must share one clock.
        self._clock = clock or (lambda: datetime.now(UTC))

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
        return f"NotesDetailClient(base_url={self.config.base_url!r}, stopped={self.stopped is not None})"

    @property
    def stopped(self) -> StopAllCalls | None:
        """The StopAllCalls that halted this client, or None while calls may still be made."""
        return self._switch.stopped

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
        self._switch.stop(Interrupted(reason), quiet=True)

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
        except requests.RequestException as exc:
            failure = transport_failure(exc)
        latency = time.perf_counter() - started
        if failure is not None:
            # Built outside the except blocks: the requests exception (URL and all) is not kept anywhere.
            kind, detail = failure
            error = RetryableError(detail, kind=kind, user_id=user_id, page_number=page_number)
            return Reading("retry", 0, "", error=error), latency
        reading = classify(status, headers, content, user_id=user_id, page_number=page_number)
        return reading, latency

    def _get_page(self, query: NotesQuery, page_number: int, tally: CallTally | None) -> Page:
        params = query.to_params(page_number)
        user_id = query.user_id
        retries = PageRetries(self.config, self._random)
        while True:
            error = self._switch.error_for(user_id, page_number)
            if error is None:
                self.limiter.acquire()
                # A stop may also have come while we waited.
                error = self._switch.gate(user_id, page_number, self._hooks.before_call)
            if error is not None:
                raise error
            attempt = retries.next_attempt()
            at = self._clock()
            reading, latency = self._attempt(params, user_id, page_number)
            error = reading.error
            self._hooks.called(
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
                    self._switch.drifted(user_id, reading.drift)
                return build_page(
                    reading, query, page_number, attempts=attempt, latency_s=latency, fetched_at=fetched_at
                )
            if isinstance(error, StopAllCalls):
                self._switch.stop(error)
                raise error
            if reading.outcome == "slow_down":
                self.limiter.on_slow_down()
            delay = retries.after(reading, error)  # raises when the page is not tried again
            logger.info("%s; retrying in %.2fs (attempt %d)", error, delay, attempt)
            self._switch.wait(delay)  # a stop-all from another thread ends this wait at once


class _Fetch:
    """One fetch_all call: buys pages into ``seen`` (stop_rules.PagesSeen), from worker threads."""

    def __init__(
        self,
        fetch_page: PageFetcher,
        query: NotesQuery,
        known: dict[int, Page],
        on_page: Callable[[Page], None] | None,
        stop_before: date | None,
    ) -> None:
        self.fetch_page = fetch_page
        self.query = query
        self.known = known
        self.on_page = on_page
        self.seen = PagesSeen(stop_before)
        self.tally = CallTally()
        self.failures: dict[int, ApiError] = {}
        self._lock = threading.Lock()
        # One on_page at a time, so the caller's storage never sees concurrent writes from one fetch.
        self._on_page_lock = threading.Lock()

    def get(self, number: int, *, again: bool = False) -> Page:
        reused = None if again else self.known.get(number)
        page = reused if reused is not None else self.fetch_page(self.query, number, self.tally)
        if page.drift is None:
            with self._lock:
                self.seen.add(number, page, bought=reused is None)
        if reused is None and self.on_page is not None:
            with self._on_page_lock:
                self.on_page(page)  # a drifted page too: the raw layer keeps it for a replay
        if page.drift is not None:
            # The fetch stops: every later page would drift the same way, and each costs money.
            raise SchemaDrift(
                page.drift.detail,
                drift=page.drift,
                http_status=page.http_status,
                user_id=self.query.user_id,
                page_number=number,
            )
        return page

    def read(self, numbers: tuple[int, ...], workers: Workers, again: bool = False) -> None:
        """Read ``numbers`` (ascending); raise FetchIncomplete if any of them failed.

        ``again``: buy a single page once more though it was read (see ``reread``).
        """
        if len(numbers) == 1:
            try:
                self.get(numbers[0], again=again)
            except ApiError as exc:
                self.failures[numbers[0]] = exc
        else:
            self._read_window(numbers, workers)
        if self.failures:
            # Raised outside any except block, so no other exception rides along as its context.
            raise self.incomplete()

    def reread(self, number: int) -> None:
        self.seen.rereads += 1
        self.read((number,), lambda: 1, again=True)

    def _read_window(self, numbers: tuple[int, ...], workers: Workers) -> None:
        """At most ``workers()`` pages in flight (asked again as each one ends), started in page order.

        No page starts once one failed or came back empty or short: the list ends there whatever the
        total claims, so only pages already in flight are bought past it. Those finish and are kept.
        """
        queue: Iterator[int] = iter(numbers)
        other_error: BaseException | None = None
        halted = False
        # The pool makes a thread only when a page starts and none is idle: as many as are in flight.
        with ThreadPoolExecutor(len(numbers), thread_name_prefix="notes-page") as pool:
            running: dict[Future[Page], int] = {}

            def launch() -> None:
                room = max(1, workers()) - len(running)
                for number in itertools.islice(queue, max(0, room)):
                    running[pool.submit(self.get, number)] = number

            launch()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    number = running.pop(future)
                    error = future.exception()
                    if error is None:
                        halted = halted or self._ends_list(future.result())
                    elif isinstance(error, ApiError):
                        self.failures[number] = error
                        halted = True
                    else:
                        other_error = other_error or error
                        halted = True
                if not halted:
                    launch()
        if other_error is not None:
            raise other_error

    def _ends_list(self, page: Page) -> bool:
        with self._lock:  # pages still in flight may be adding theirs
            return self.seen.ends_list(page)

    def incomplete(self) -> FetchIncomplete:
        return FetchIncomplete.of(self.failures, self.seen.result(self.query, self.tally, "failed"))


def fetch_all(
    fetch_page: PageFetcher,
    query: NotesQuery,
    *,
    max_pages: int,
    page_workers: int | Workers,
    known_pages: Mapping[int, Page] | None = None,
    on_page: Callable[[Page], None] | None = None,
    stop_before: date | None = None,
) -> FetchResult:
    """Every page of ``query``, each bought through ``fetch_page``; see NotesDetailClient.fetch_all.

    ``page_workers``: the pages in flight at most, or a function that tells it as each page starts
    (a PageShare's).
    """
    if stop_before is not None and query.order_type is not OrderType.LATEST:
        # Only newest-first pages let one old note stand for every page after it.
        raise ValueError(f"stop_before needs order_type LATEST; got order_type {query.order_type.value}")
    fetch = _Fetch(fetch_page, query, reusable_pages(query, known_pages), on_page, stop_before)
    workers: Workers = page_workers if callable(page_workers) else lambda: page_workers
    fetch.read((1,), workers)
    while True:
        step = fetch.seen.next_step(max_pages)
        if isinstance(step, Stop):
            return fetch.seen.result(query, fetch.tally, step.reason)
        if isinstance(step, Reread):
            fetch.reread(step.page)
        else:
            fetch.read(step.pages, workers)
