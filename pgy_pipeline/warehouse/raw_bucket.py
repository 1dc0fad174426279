"""The raw layer in an S3-compatible bucket (``PGY_RAW_URL=s3://bucket/prefix``), for run
workers that share no disk. The rules are raw.py's; only the layout differs, because an
object store has no append:

- ``<user_id>/<fetch_id>.meta.json``, ``.done.json``, ``.failed.json``: as on disk (each
  written whole: a PUT is atomic, an object appears complete or not at all).
- ``<user_id>/<fetch_id>/p<page>.jsonl``: **one object per page**, the page's line exactly as
  raw.py encodes it, stored before the fetch moves on (the local ``fsync``). A page bought
  again replaces its object, so the latest copy wins as on disk, and no object is ever cut by
  a crash: a resumed fetch finds every page that was stored.
- The fetch's file for DuckDB's normalisation (``fetch_file``) is the fetch's page objects
  joined in page order, in this process's own temp directory (nothing shared on local disk).

Sealing, resume, ``done_within``, replay and ``holds_data`` work on these objects exactly as on
files (the logic is RawStore's, over ``_put``/``_get``/``_has`` and the listings below).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import obstore
from obstore.exceptions import NotFoundError

from pgy_pipeline.s3 import S3Config, split_s3_url
from pgy_pipeline.warehouse.raw import RawPage, RawStore, decode_line, encode_line

_PAGE = re.compile(r"^p(\d+)\.jsonl$")


class BucketRawStore(RawStore):
    """Raw pages as objects under ``s3://bucket/prefix``. Thread-safe."""

    def __init__(self, url: str, s3: S3Config) -> None:
        bucket, prefix = split_s3_url(url)
        self.url = f"s3://{bucket}/{prefix}".rstrip("/")
        self._store = s3.store(bucket, prefix)
        self._tmp = tempfile.TemporaryDirectory(prefix="pgy-raw-")  # removed with this object
        self.root = Path(self._tmp.name)  # local copies for DuckDB only, never read back as the truth
        self._written: dict[tuple[str, str], dict[int, str]] = {}  # pages this process stored
        self._guard = threading.Lock()

    def _key(self, user_id: str, name: str) -> str:
        self._dir(user_id)  # the same check of the user id as on disk
        return f"{user_id}/{name}"

    # -- the small objects ------------------------------------------------------------------

    def _put(self, user_id: str, name: str, text: str) -> None:
        obstore.put(self._store, self._key(user_id, name), text.encode("utf-8"))

    def _get(self, user_id: str, name: str) -> str:
        try:
            return bytes(obstore.get(self._store, self._key(user_id, name)).bytes()).decode("utf-8")
        except (NotFoundError, FileNotFoundError):  # obstore raises either, by call
            raise FileNotFoundError(f"{self.url}/{user_id}/{name}") from None

    def _has(self, user_id: str, name: str) -> bool:
        try:
            obstore.head(self._store, self._key(user_id, name))
        except (NotFoundError, FileNotFoundError):  # obstore raises either, by call
            return False
        return True

    def _keys(self, prefix: str) -> Iterator[str]:
        for chunk in obstore.list(self._store, prefix or None):
            for meta in chunk:
                yield str(meta["path"])

    # -- pages ------------------------------------------------------------------------------

    def append(self, page: RawPage) -> None:
        """Store one page as its own object before the caller moves on."""
        line = encode_line(page)
        name = f"{page.fetch_id}/p{page.page_number:05d}.jsonl"
        obstore.put(self._store, self._key(page.user_id, name), line.encode("utf-8"))
        with self._guard:
            self._written.setdefault((page.user_id, page.fetch_id), {})[page.page_number] = line

    @contextlib.contextmanager
    def syncing(self, user_id: str, fetch_id: str) -> Iterator[None]:
        """Nothing to group: each page's PUT is durable when it returns."""
        yield

    def _page_lines(self, user_id: str, fetch_id: str) -> dict[int, str]:
        mine = self._written.get((user_id, fetch_id), {})
        lines: dict[int, str] = {}
        for key in self._keys(self._key(user_id, f"{fetch_id}/")):
            m = _PAGE.match(key.rsplit("/", 1)[-1])
            if m:
                n = int(m.group(1))
                lines[n] = mine.get(n) or bytes(obstore.get(self._store, key).bytes()).decode("utf-8")
        return lines

    def pages(self, user_id: str, fetch_id: str) -> dict[int, RawPage]:
        return {n: decode_line(line) for n, line in sorted(self._page_lines(user_id, fetch_id).items())}

    def fetch_file(self, user_id: str, fetch_id: str) -> Path:
        """The fetch's pages as one local .jsonl (page order) for DuckDB to read."""
        path = self.root / self._dir(user_id).name / f"{fetch_id}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = self._page_lines(user_id, fetch_id)
        path.write_text("".join(lines[n] for n in sorted(lines)), encoding="utf-8")
        return path

    def location(self, user_id: str, fetch_id: str) -> str:
        return f"{self.url}/{user_id}/{fetch_id}/"

    # -- listings -----------------------------------------------------------------------------

    def fetch_ids(self, user_id: str) -> list[str]:
        prefix = self._key(user_id, "")
        found = obstore.list_with_delimiter(self._store, prefix)
        names = (str(o["path"]).rsplit("/", 1)[-1] for o in found["objects"])
        return sorted(n[: -len(".meta.json")] for n in names if n.endswith(".meta.json"))

    def holds_data(self) -> bool:
        return any(_PAGE.match(k.rsplit("/", 1)[-1]) for k in self._keys(""))

    def _recorded(self, suffixes: tuple[str, ...]) -> Iterator[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for key in self._keys(""):
            parts = key.split("/")
            if len(parts) == 2 and parts[1].endswith(suffixes):
                found.add((parts[0], parts[1].split(".", 1)[0]))
        yield from sorted(found)

    def iter_done_fetches(self) -> Iterator[tuple[str, str]]:
        yield from self._recorded((".done.json",))

    def iter_recorded_fetches(self) -> Iterator[tuple[str, str]]:
        yield from self._recorded((".done.json", ".failed.json"))
