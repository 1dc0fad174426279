"""The pages in flight of the fetches one client runs at once (client.py), shared among them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

Workers = Callable[[], int]  # how many pages one fetch may have in flight now


class PageShare:
    """The pages in flight of the fetches one client runs at once, shared among them.

    Each fetch may have ``least`` pages in flight (``page_workers``). A run fetches several KOLs
    at once; at its end, when only its last KOLs are left, their pages would trail at ``least``
    each while the rate allows more (1,000 KOLs at 100 calls/s lost ~1.5 s there). So the slots of
    the fetches that ended go to those still running: each may have ``least`` times the most
    fetches seen at once, divided by those running now. The pages in flight never exceed what
    the client had at its fullest, and a fetch alone from the start keeps ``least``.
    """

    def __init__(self, least: int) -> None:
        self.least = max(1, least)
        self._lock = threading.Lock()
        self._running = 0
        self._most = 0

    @contextlib.contextmanager
    def joined(self) -> Iterator[Workers]:
        """One fetch running for the duration; yields its share, read again at each page it starts."""
        with self._lock:
            self._running += 1
            self._most = max(self._most, self._running)
        try:
            yield self.workers
        finally:
            with self._lock:
                self._running -= 1

    def workers(self) -> int:
        with self._lock:
            return max(self.least, self.least * self._most // max(1, self._running))
