"""Typed failures of Notes Details (V1), sorted by what the caller must do.

- ``RetryableError``: try this page again later (301, 500, timeouts, gateway errors, broken bodies).
- ``SlowDownError``: the API kept asking us to slow down (302, HTTP 429) for longer than our time budget.
- ``StopAllCalls``: no further call can succeed or may be made (token, quota, balance, budget, the
  unbilled-call limit, ``SchemaDriftStop``), or ``Interrupted``: a person or the system asked the run
  to stop (SIGINT, SIGTERM, Dagster's Terminate).
- ``SchemaDrift``: the answer no longer has the contract's shape (contract.py, drift.py); the code
  must learn the new shape, so retrying is pointless until then.
- ``RequestRejected``: this request will never succeed as sent (400, 600, unknown code, odd envelope).
- ``NoContent``: code 201, the KOL has no content (billed; neither a retry nor evidence of deletions).

The tree (as httpx's _exceptions.py draws its own):

    ApiError                      base: code, http_status, kind, redacted message
    +-- RetryableError            301, 500, timeouts, resets, 502/503/504, broken bodies
    +-- SlowDownError             302 / HTTP 429 for longer than slow_down_max_wait_s
    +-- StopAllCalls              no further call may be made; ``action`` says what to do
    |   +-- InvalidToken          100
    |   +-- QuotaExceeded         303 (daily quota)
    |   +-- InsufficientBalance   601
    |   +-- BudgetExhausted       our own daily call budget (PGY_DAILY_CALL_BUDGET)
    |   +-- UnbilledLimitReached  our own limit of unbilled calls a day
    |   +-- SchemaDriftStop       enough KOLs drifted that every other would too (carries the drift)
    |   +-- Interrupted           SIGINT, SIGTERM, Dagster's Terminate
    +-- SchemaDrift               a page's notes left the contract's shape (carries the drift)
    +-- NoContent                 201: the KOL has no content (billed)
    +-- RequestRejected           will never succeed as sent
    |   +-- InvalidParameters     400
    |   +-- PermissionDenied      600
    |   +-- UnknownCode           a code the vendor does not document: fail closed
    |   +-- MalformedResponse     an envelope of an unknown shape
    +-- FetchIncomplete           fetch_all's wrapper: ``cause`` (one of the above) and the partial result

Every message is redacted at construction: str(), repr() and pickles never hold the token or a URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .redaction import redact

if TYPE_CHECKING:
    from .drift import Drift
    from .models import FetchResult


def _rebuild(cls: type[ApiError], state: dict[str, Any]) -> ApiError:
    error = cls.__new__(cls)
    Exception.__init__(error, state["text"])
    error.__dict__.update(state)
    return error


class ApiError(Exception):
    """Base of every failure of the client.

    ``code`` is the business code (None when no envelope was read), ``http_status`` the HTTP status (None
    when no response arrived), ``kind`` a short machine-readable reason ("code_301", "timeout",
    "http_502", ...), ``message`` the redacted detail.
    """

    default_kind = "error"
    summary = "request failed"

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        http_status: int | None = None,
        user_id: str | None = None,
        page_number: int | None = None,
        kind: str | None = None,
    ) -> None:
        self.message = redact(message)
        self.code = code
        self.http_status = http_status
        self.user_id = user_id
        self.page_number = page_number
        self.kind = kind or (f"code_{code}" if code is not None else self.default_kind)
        self.text = redact(self._compose())
        super().__init__(self.text)

    def _compose(self) -> str:
        where = []
        if self.user_id is not None:
            where.append(f"user {self.user_id}")
        if self.page_number is not None:
            where.append(f"page {self.page_number}")
        status = []
        if self.code is not None:
            status.append(f"code {self.code}")
        if self.http_status is not None:
            status.append(f"HTTP {self.http_status}")
        head = self.summary
        if status:
            head += f" ({', '.join(status)})"
        if where:
            head += f" for {' '.join(where)}"
        return f"{head}: {self.message}" if self.message else head

    def __str__(self) -> str:
        return self.text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor arguments do not survive Exception's default pickling.
        return (_rebuild, (type(self), dict(self.__dict__)))

    def copy(self, *, message: str | None = None, **changes: Any) -> ApiError:
        """A fresh error of the same class with some fields changed (each raise gets its own instance)."""
        fields: dict[str, Any] = {
            "code": self.code,
            "http_status": self.http_status,
            "user_id": self.user_id,
            "page_number": self.page_number,
            "kind": self.kind,
        }
        fields.update(changes)
        return type(self)(self.message if message is None else message, **fields)


class RetryableError(ApiError):
    """Transient: collection failed (301), internal error (500), timeouts, resets, 502/503/504, bad bodies."""

    default_kind = "retryable"
    summary = "transient failure, retry later"


class SlowDownError(ApiError):
    """Still rate limited (302 or HTTP 429) after ``slow_down_max_wait_s``; retryable in a later run."""

    default_kind = "slow_down"
    summary = "rate limited"


class StopAllCalls(ApiError):
    """No further call may be made by this client; ``action`` says what a person must do."""

    default_kind = "stop"
    summary = "all calls stopped"
    action = "stop issuing calls"
    # Which stop, in one word (run tags and alerts name it so; the stops table uses "quota").
    stop_kind = "other"

    def _compose(self) -> str:
        return f"{super()._compose()} -> {self.action}"


class InvalidToken(StopAllCalls):
    summary = "invalid or inactive token"
    action = "set JUSTONEAPI_TOKEN to a valid token"
    stop_kind = "token"


class QuotaExceeded(StopAllCalls):
    summary = "daily quota exceeded"
    action = "daily quota exceeded: resumes after the quota resets"
    stop_kind = "quota"


class InsufficientBalance(StopAllCalls):
    summary = "insufficient balance"
    action = "top up the balance"
    stop_kind = "balance"


class BudgetExhausted(StopAllCalls):
    """Raised by a ``before_call`` budget governor: our own spending cap, not the vendor's."""

    default_kind = "budget"
    summary = "call budget exhausted"
    action = "raise the call budget or wait for the next run"
    stop_kind = "budget"


class UnbilledLimitReached(StopAllCalls):
    """Raised by the budget governor: today's calls the vendor did not bill reached our own limit, a
    guard against retrying a failing API for ever (PGY_DAILY_UNBILLED_CALL_LIMIT)."""

    default_kind = "budget"
    summary = "unbilled call limit reached"
    action = "see why the API keeps failing (`pgy status`); raise PGY_DAILY_UNBILLED_CALL_LIMIT or wait for tomorrow"
    stop_kind = "unbilled"


class _CarriesDrift(ApiError):
    """An error that says which field of the contract changed and how (``drift``; None once pickled
    without it)."""

    def __init__(self, message: str = "", *, drift: Drift | None = None, **kwargs: Any) -> None:
        self.drift = drift
        super().__init__(message, **kwargs)

    def copy(self, *, message: str | None = None, **changes: Any) -> ApiError:
        clone = super().copy(message=message, **changes)
        clone.drift = self.drift  # type: ignore[attr-defined]
        return clone


class SchemaDrift(_CarriesDrift):
    """A page whose notes break the data contract as a whole.

    Raised after the page was handed to ``on_page``, so its raw body is kept for a replay once the
    code reads the new shape.
    """

    default_kind = "schema"
    summary = "schema drift"


class SchemaDriftStop(_CarriesDrift, StopAllCalls):
    """The run stops buying: enough KOLs drifted that every other one would too (drift.DRIFT_STOP_KOLS)."""

    default_kind = "schema"
    summary = "schema drift"
    stop_kind = "schema"
    action = "upgrade pgy-pipeline to read the new shape, then `pgy replay` and refresh (README, 'When a run fails')"


class NoContent(ApiError):
    """Code 201: the requested resource does not exist. Billed; the KOL has no content to read."""

    default_kind = "no_content"
    summary = "no content available"


class Interrupted(StopAllCalls):
    """SIGINT/SIGTERM asked the run to stop (``NotesDetailClient.interrupt``): nobody's fault, no alert."""

    default_kind = "interrupted"
    summary = "interrupted"
    stop_kind = "interrupted"
    action = "run the refresh again: it resumes, buying only the pages not stored yet"


class RequestRejected(ApiError):
    """This request as sent will not succeed; retrying it is pointless."""

    default_kind = "rejected"
    summary = "request rejected"


class InvalidParameters(RequestRejected):
    summary = "invalid parameters"


class PermissionDenied(RequestRejected):
    summary = "permission denied"


class UnknownCode(RequestRejected):
    """A business code outside the documented table: fail closed rather than guess its meaning."""

    summary = "unknown business code"


class MalformedResponse(RequestRejected):
    """An answer of the wrong shape (code as a string, no data.list, a note without noteId, ...)."""

    default_kind = "malformed"
    summary = "malformed response"


# Most severe first: the cause FetchIncomplete reports when several pages failed differently.
SEVERITY: tuple[type[ApiError], ...] = (
    StopAllCalls,
    SchemaDrift,
    RequestRejected,
    NoContent,
    SlowDownError,
    RetryableError,
    ApiError,
)


def severity(error: ApiError) -> int:
    return next(i for i, cls in enumerate(SEVERITY) if isinstance(error, cls))


class FetchIncomplete(ApiError):
    """``fetch_all`` could not read every page.

    ``cause`` is the deciding failure (the most severe one if several pages failed), ``result`` the partial
    FetchResult of the pages that did succeed (reused and bought; already passed to ``on_page``), and
    ``failed_pages`` maps each failed page to its business code, or to the error kind when there was none.
    """

    default_kind = "incomplete"
    summary = "fetch incomplete"

    @classmethod
    def of(cls, failures: Mapping[int, ApiError], result: FetchResult) -> FetchIncomplete:
        """The fetch's failed pages (at least one), its cause the most severe failure, then the first page."""
        failed = sorted(failures.items(), key=lambda item: (severity(item[1]), item[0]))
        failed_pages = {n: e.code if e.code is not None else e.kind for n, e in failures.items()}
        return cls(failed[0][1], result, failed_pages)

    def __init__(
        self,
        cause: ApiError,
        result: FetchResult,
        failed_pages: Mapping[int, int | str],
    ) -> None:
        self.cause = cause
        self.result = result
        self.failed_pages = dict(sorted(failed_pages.items()))
        pages = ", ".join(str(page) for page in self.failed_pages)
        super().__init__(
            f"{len(result.pages)} page(s) read, failed page(s) {pages}: {cause}",
            code=cause.code,
            http_status=cause.http_status,
            user_id=cause.user_id,
            kind=f"incomplete_{cause.kind}",
        )

    def copy(self, *, message: str | None = None, **changes: Any) -> ApiError:
        return FetchIncomplete(self.cause.copy(message=message, **changes), self.result, self.failed_pages)

    @property
    def stop_all(self) -> bool:
        """True when the run must stop issuing calls (token, quota, balance or budget)."""
        return isinstance(self.cause, StopAllCalls)

    @property
    def retryable(self) -> bool:
        """True when a later attempt at the same query can succeed (301/500/transport/slow-down)."""
        return isinstance(self.cause, RetryableError | SlowDownError)
