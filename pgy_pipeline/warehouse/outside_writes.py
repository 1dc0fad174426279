"""Evidence that someone other than the pipeline wrote a DuckDB file it published (db.py keeps
such a file under edited/ instead of replacing it): a write-ahead log, a changed signature, or a
process holding DuckDB's write lock on it."""

from __future__ import annotations

import fcntl
import os
import struct
import sys
from pathlib import Path


def signature(path: Path) -> str:
    """Identity and version of a file as the pipeline left it: inode, size, modification time."""
    st = os.stat(path)
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


_FLOCK = "hhqqi"  # struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid


def _write_lock_holder(path: Path) -> int | None:
    """The pid of a process holding a write lock on ``path`` (DuckDB's lock of a read-write
    connection), or None. Asks with an open-file-description query, so nothing is locked here.
    Linux only (the struct layout below is Linux's); elsewhere this evidence is not looked for."""
    query = getattr(fcntl, "F_OFD_GETLK", None)
    if query is None or not sys.platform.startswith("linux"):
        return None
    size = struct.calcsize(_FLOCK)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        want = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0).ljust(32, b"\0")
        answer = fcntl.fcntl(fd, query, want)
    except OSError:
        return None
    finally:
        os.close(fd)
    l_type, _, _, _, pid = struct.unpack(_FLOCK, answer[:size])
    return pid if l_type == fcntl.F_WRLCK else None


def writer_evidence(path: Path, recorded: str | None) -> tuple[str, bool] | None:
    """What shows that someone wrote (or may write) the DuckDB file ``path`` since it had the
    signature ``recorded`` (None: not known), and whether anything is written yet; None if nothing."""
    if Path(f"{path}.wal").exists():
        return "a write-ahead log beside it holds writes not yet checkpointed", True
    if recorded is not None and recorded != signature(path):
        return "it changed after the pipeline published it", True
    holder = _write_lock_holder(path)
    if holder is not None:
        return f"process {holder} has it open for writing", False
    return None


def recorded_signature(path: Path) -> str | None:
    """The signature recorded in the file ``path`` (None when there is none)."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
