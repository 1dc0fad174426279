"""SIGINT and SIGTERM (Ctrl-C, systemd, Kubernetes, Dagster's "Terminate"): what the pipeline does.

Python runs a signal handler in the main thread only, between two bytecodes or inside a C
extension that asks for pending signals. DuckDB's Python client asks while a statement runs;
a handler that raises there (Python's own for SIGINT, Dagster's during a step) turns into
"Query interrupted" and leaves the connection hung: the next statement, ``close()`` or a new
``connect()`` to the same file then waits for ever, at 100% CPU (DuckDB 1.5). And an exception
raised at an arbitrary point of a refresh leaves its threads buying pages. So the handlers here
never raise:

- ``stopping()``: while a refresh runs, the first interrupt flips a switch. Its callbacks (the
  API client's stop) run at once, so no new call starts; the refresh then writes what is
  complete and ends cleanly. A second interrupt ends the process at once (``os._exit``): a
  crash, which the raw layer and the warehouse survive by design (README, "Guarantees").
- ``shielded()``: around DuckDB work, an interrupt cancels the running statement with DuckDB's
  own ``interrupt()`` (the transaction then rolls back cleanly) and is handed on to the handler
  that was there before once the connection is closed, or to the switch at once.

Both only act in the main thread (signal handlers can be set nowhere else).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, Protocol

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupt:
    """The switch of one ``stopping()`` block: which signal asked to stop, if any."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._callbacks: list[Callable[[], None]] = []

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        """SIGINT or SIGTERM ("interrupt" before any)."""
        return signal.Signals(self.signum).name if self.signum is not None else "interrupt"

    @property
    def exit_code(self) -> int:
        """What a shell reports for a process ended by this signal (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + (self.signum or signal.SIGINT)

    def on_request(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` when the stop is requested (now if it was); returns its remover.

        It runs inside the signal handler, in the main thread: keep it to setting flags and events.
        """
        if self.requested:
            callback()
            return lambda: None
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def request(self, signum: int) -> None:
        self.signum = signum
        for callback in list(self._callbacks):
            callback()


_active: list[Interrupt] = []


def _say(text: str) -> None:
    # os.write: no buffer or lock that the interrupted code could be holding.
    with contextlib.suppress(OSError):
        os.write(2, f"\n{text}\n".encode())


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if any(s.requested for s in _active):
        _say(
            f"{name} again: exiting now. Pages bought are kept; the next run resumes without buying them again."
        )
        os._exit(128 + signum)
    for switch in _active:
        switch.request(signum)
    _say(
        f"{name}: stopping. No new API call starts; calls in flight finish, complete KOLs are written. "
        f"{name} again exits at once."
    )


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _install(handler: Any) -> dict[int, Any]:
    previous: dict[int, Any] = {s: signal.getsignal(s) for s in INTERRUPT_SIGNALS}
    for s in INTERRUPT_SIGNALS:
        signal.signal(s, handler)
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for s, handler in previous.items():
        # None: a handler set outside Python; the default is the closest we can restore.
        signal.signal(s, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def stopping() -> Iterator[Interrupt]:
    """Within: SIGINT/SIGTERM request a stop instead of raising; a second one exits the process.

    Nested blocks (the command line around a Dagster step) share the signals: each switch sees it.
    """
    switch = Interrupt()
    # Asked already, in an outer block (the command line, as a run starts): asked here too.
    switch.signum = next((s.signum for s in _active if s.requested), None)
    if not _main_thread():
        yield switch
        return
    previous = _install(_on_signal)
    _active.append(switch)
    try:
        yield switch
    finally:
        _active.remove(switch)
        _restore(previous)


class _Interruptible(Protocol):
    def interrupt(self) -> None: ...


class Shield:
    """A shielded block's state: the connection to cancel, and whether a signal came."""

    def __init__(self) -> None:
        self.conn: _Interruptible | None = None
        self.interrupted = False  # a signal came during the block
        self.pending: int | None = None  # the signal to hand on when the block ends


@contextlib.contextmanager
def shielded() -> Iterator[Shield]:
    """DuckDB work that SIGINT/SIGTERM cancel cleanly instead of leaving the connection hung.

    Set ``shield.conn`` once connected. An interrupt then cancels the statement running (a
    statement starting after it runs: keep the block short), and the signal goes on to the
    handler that was there before: at once if that is ``stopping()``'s (which never raises), else
    once the block has ended, the transaction rolled back and the connection closed.
    """
    shield = Shield()
    if not _main_thread():
        yield shield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        shield.interrupted = True
        if shield.conn is not None:
            shield.conn.interrupt()
        if previous.get(signum) is _on_signal:
            _on_signal(signum, frame)
        elif shield.pending is None:
            shield.pending = signum

    previous = _install(handler)
    try:
        yield shield
    finally:
        _restore(previous)
        if shield.pending is not None:
            # The handler before runs now (Python runs it inside raise_signal): it raises
            # KeyboardInterrupt or Dagster's interrupt, or ends the process (SIGTERM's default).
            signal.raise_signal(shield.pending)
