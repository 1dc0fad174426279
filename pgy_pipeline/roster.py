"""The KOL roster file (``data/kols.csv``): parsing with per-line errors, edits, and sync.

Format: a CSV with a header ``user_id,label[,category]``; ``label`` is optional free text
(the KOL's name, say) and ``category`` the optional peer group the KOL is compared within
(beauty, food, ...). Lines starting with ``#`` are comments. A bad line is reported with its line
number and skipped; the good lines still load.
"""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pgy_pipeline.justoneapi.params import USER_ID_PATTERN

MAX_LABEL_LEN = 200
HEADER = ("user_id", "label", "category")


@dataclass(frozen=True, slots=True)
class Kol:
    user_id: str
    label: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class RosterProblem:
    line: int  # 0: the file as a whole (missing, not UTF-8)
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True, slots=True)
class Roster:
    kols: tuple[Kol, ...]
    problems: tuple[RosterProblem, ...]

    @property
    def user_ids(self) -> list[str]:
        return [k.user_id for k in self.kols]

    @property
    def labels(self) -> dict[str, str | None]:
        return {k.user_id: k.label for k in self.kols}

    @property
    def categories(self) -> dict[str, str | None]:
        return {k.user_id: k.category for k in self.kols}


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def check_user_id(user_id: str) -> str | None:
    """None when ``user_id`` is acceptable, else why not (shown to the user)."""
    if user_id == "":
        return "user_id is empty"
    if "\x00" in user_id or _has_control(user_id):
        return "user_id contains a NUL or control character"
    if "/" in user_id or "\\" in user_id or ".." in user_id:
        return f"user_id {user_id!r} contains a path separator"
    if len(user_id) > 64:
        return f"user_id is {len(user_id)} characters long (at most 64)"
    if not USER_ID_PATTERN.fullmatch(user_id):
        return f"user_id {user_id!r} may only contain ASCII letters, digits, '_' and '-'"
    return None


def check_label(label: str, what: str = "label") -> str | None:
    if _has_control(label):
        return f"{what} contains a NUL or control character"
    if len(label) > MAX_LABEL_LEN:
        return f"{what} is {len(label)} characters long (at most {MAX_LABEL_LEN})"
    return None


def check_category(category: str) -> str | None:
    return check_label(category, "category")


def parse_roster(text: str) -> Roster:
    kols: list[Kol] = []
    problems: list[RosterProblem] = []
    seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text))
    header_done = False
    for row in reader:
        lineno = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines are allowed as spacing
        first = row[0].strip()
        if first.startswith("#"):
            continue
        if not header_done:
            header_done = True
            if tuple(c.strip().lower() for c in row[:3]) == HEADER[: len(row[:3])] and first == "user_id":
                continue
        if len(row) > 3:
            problems.append(
                RosterProblem(lineno, f"expected at most 3 columns (user_id,label,category), got {len(row)}")
            )
            continue
        user_id = first
        label = row[1].strip() if len(row) > 1 and row[1].strip() else None
        category = row[2].strip() if len(row) > 2 and row[2].strip() else None
        why = (
            check_user_id(user_id)
            or (check_label(label) if label else None)
            or (check_category(category) if category else None)
        )
        if why:
            problems.append(RosterProblem(lineno, why))
            continue
        if user_id in seen:
            problems.append(
                RosterProblem(lineno, f"duplicate user_id {user_id!r} (first on line {seen[user_id]})")
            )
            continue
        seen[user_id] = lineno
        kols.append(Kol(user_id, label, category))
    return Roster(tuple(kols), tuple(problems))


def load_roster(path: str | os.PathLike[str]) -> Roster:
    p = Path(path)
    if not p.exists():
        return Roster((), (RosterProblem(0, f"roster file {p} does not exist"),))
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Roster((), (RosterProblem(0, f"roster file {p} is not UTF-8: {exc}"),))
    if "\x00" in text:
        # csv cannot read NULs; report their lines and parse the rest.
        bad = [i for i, line in enumerate(text.splitlines(), 1) if "\x00" in line]
        lines = [line for line in text.splitlines() if "\x00" not in line]
        parsed = parse_roster("\n".join(lines))
        nul = tuple(RosterProblem(i, "line contains a NUL character") for i in bad)
        return Roster(parsed.kols, nul + parsed.problems)
    return parse_roster(text)


def render_roster(kols: Iterable[Kol]) -> str:
    """The roster as CSV; the category column is written once any KOL has a category."""
    rows = list(kols)
    width = 3 if any(k.category for k in rows) else 2
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER[:width])
    for k in rows:
        w.writerow((k.user_id, k.label or "", k.category or "")[:width])
    return out.getvalue()


def save_roster(path: str | os.PathLike[str], kols: Sequence[Kol]) -> None:
    """Rewrite the roster atomically (a crash never leaves a half-written file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(render_roster(kols), encoding="utf-8")
    os.replace(tmp, p)


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What a roster sync must do, computed from the last synced set (``base``)."""

    add_partitions: tuple[str, ...]
    delete_partitions: tuple[str, ...]
    add_to_file: tuple[str, ...]
    remove_from_file: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (
            self.add_partitions or self.delete_partitions or self.add_to_file or self.remove_from_file
        )


def plan_sync(base: Iterable[str], in_file: Sequence[str], partitions: Sequence[str]) -> SyncPlan:
    """Three-way merge of the roster file and the Dagster partitions against the last sync.

    A KOL added on either side since ``base`` is added to the other; one removed on either
    side is removed from the other. With no base (first sync), the file and the partitions
    are united: nothing is deleted on a first sync.
    """
    b, f, p = set(base), set(in_file), set(partitions)
    file_added, file_removed = f - b, b - f
    part_added, part_removed = p - b, b - p
    add_partitions = [u for u in in_file if u in file_added and u not in p]
    delete_partitions = [u for u in partitions if u in file_removed and u in p and u not in part_added]
    add_to_file = [u for u in partitions if u in part_added and u not in f]
    remove_from_file = [u for u in in_file if u in part_removed and u in f and u not in file_added]
    return SyncPlan(
        tuple(add_partitions), tuple(delete_partitions), tuple(add_to_file), tuple(remove_from_file)
    )
