"""The token must not leak anywhere: logs at DEBUG (ours, urllib3's, everyone's), exceptions and their
chains and tracebacks, returned objects, stdout/stderr. Every path of the client is driven once."""

from __future__ import annotations

import io
import logging
import pickle
import traceback
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from pgy_pipeline.justoneapi import (
    ApiError,
    BudgetExhausted,
    CallRecord,
    ClientConfig,
    NotesDetailClient,
    NotesQuery,
)
from pgy_pipeline_tests.support import MakeSim

from .helpers import FAST, TOKEN, Scripted

EXPECTED_KINDS = sorted(
    {
        "BudgetExhausted",
        "FetchIncomplete",
        "InsufficientBalance",
        "InvalidParameters",
        "InvalidToken",
        "PermissionDenied",
        "QuotaExceeded",
        "RequestRejected",
        "RetryableError",
        "SlowDownError",
        "UnknownCode",
    }
)


@pytest.fixture
def debug_everywhere(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    names = ["urllib3", "urllib3.connectionpool", "urllib3.util.retry", "requests", "pgy_pipeline"]
    loggers = [logging.getLogger(n) for n in names + list(logging.root.manager.loggerDict)]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    yield stream
    for lg, level, disabled in saved:
        lg.setLevel(level)
        lg.disabled = disabled
    root.removeHandler(handler)


def _exception_texts(error: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        texts.append(
            repr(pickle.loads(pickle.dumps(current)).__dict__) if isinstance(current, ApiError) else ""
        )
        cause = getattr(current, "cause", None)
        if isinstance(cause, BaseException):
            texts += _exception_texts(cause)
        current = current.__cause__ or current.__context__
    return texts


def test_token_never_leaks(
    debug_everywhere: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    make_sim: MakeSim,
    scripted: Scripted,
    closed_port_url: str,
) -> None:
    records: list[CallRecord] = []
    returned: list[Any] = []
    errors: list[BaseException] = []
    clients: list[NotesDetailClient] = []

    def client(
        base_url: str, governor: Callable[[], None] | None = None, **overrides: Any
    ) -> NotesDetailClient:
        config = ClientConfig(token=TOKEN, base_url=base_url, **{**FAST, "max_attempts": 2, **overrides})
        made = NotesDetailClient(config, observer=records.append, before_call=governor)
        clients.append(made)
        returned.append(made)
        returned.append(config)
        return made

    def attempt(call: Callable[[], Any]) -> None:
        try:
            returned.append(call())
        except Exception as exc:
            errors.append(exc)

    query = NotesQuery("kol_t")
    sim = make_sim(fixed_counts={"kol_t": 20, "kol_x": 3})
    ok = client(sim.base_url)
    attempt(lambda: ok.fetch_all(query))
    attempt(lambda: ok.get_page(query, 1))

    for code in (100, 301, 302, 303, 400, 500, 600, 601, 503, 999):
        coded = make_sim(user_codes={"kol_t": code})
        attempt(partial(client(coded.base_url, slow_down_max_wait_s=0.02).fetch_all, query))
    for fault in ("p_html_502", "p_http_503", "p_http_429", "p_truncated"):
        faulty = make_sim(**{fault: 1.0, "retry_after_s": 0})
        attempt(partial(client(faulty.base_url, slow_down_max_wait_s=0.02).get_page, query, 1))
    stall = make_sim(p_stall=1.0, stall_s=0.4, stall_drop_share=0.0)
    attempt(lambda: client(stall.base_url, read_timeout_s=0.1, max_attempts=1).get_page(query, 1))
    drop = make_sim(p_stall=1.0, stall_s=0.0, stall_drop_share=1.0)
    attempt(lambda: client(drop.base_url, max_attempts=1).get_page(query, 1))
    attempt(lambda: client(closed_port_url).get_page(query, 1))
    revoked = make_sim(revoked_tokens=frozenset({TOKEN}), fixed_counts={"kol_t": 20})
    attempt(lambda: client(revoked.base_url).fetch_all(query))
    bad = NotesQuery("kol_t")
    object.__setattr__(bad, "user_id", "bad id!")
    attempt(lambda: client(sim.base_url).get_page(bad, 1))  # HTTP 400 framework body

    # The server echoes the token back: in the message, in a framework body's path, in a 3xx Location.
    scripted.push(200, {"code": 100, "message": f"token {TOKEN} invalid", "data": None})
    scripted.push(400, {"status": 400, "error": "Bad Request", "path": f"/x?token={TOKEN}"})
    scripted.push(401, f"no such token {TOKEN}".encode(), {"Content-Type": "text/plain"})
    scripted.push(302, b"", {"Location": f"http://127.0.0.1:9/?token={TOKEN}"})
    for _ in range(4):
        attempt(lambda: client(scripted.base_url).get_page(query, 1))

    def budget() -> None:
        raise BudgetExhausted("budget spent")

    attempt(lambda: client(sim.base_url, governor=budget).fetch_all(query))
    for made in clients:
        made.close()

    kinds = sorted(
        {type(e).__name__ for e in errors} | {type(e.cause).__name__ for e in errors if hasattr(e, "cause")}
    )
    assert kinds == EXPECTED_KINDS, kinds
    assert len(errors) == 24 and len(records) >= 30
    for error in errors:
        for text in _exception_texts(error):
            assert TOKEN not in text, text
    for item in [*returned, *records]:
        assert TOKEN not in repr(item)
        assert TOKEN not in str(item)
    log_text = caplog.text + debug_everywhere.getvalue()
    assert "token=***" in log_text, "urllib3 request lines were expected at DEBUG (masked)"
    assert TOKEN not in log_text
    for record in caplog.records:
        assert TOKEN not in record.getMessage() and TOKEN not in str(record.args)
    out, err = capsys.readouterr()
    assert TOKEN not in out and TOKEN not in err
