"""The data contract of Notes Details (V1), written once: every field of the envelope and of a note.

Each field says its type and format, whether it may be null, and how often null is normal
(``null_normal``: the share of notes on which a null is ordinary data; the ``notes`` asset check
compares with it when a KOL has no history of its own). Pydantic validates every answer against it
before anything is written: a bad value in one note is data (read as None and counted per field in
``FieldCounts``); a page whose notes break the contract as a whole is drift (``drift.py``).

The readers are the warehouse's too: ``warehouse/normalise.py`` restates them in SQL, and a test
proves both read every value alike (a replay must give the live warehouse back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from .field_counts import FieldCounts
from .models import Note

_DIGITS = re.compile(r"[0-9]{1,18}")
# Only YYYY-MM-DD: date.fromisoformat alone also takes "20260308" and "2026-W10-7", which the
# warehouse's SQL reading does not; both must read the same dates.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _unreadable(expected: str) -> PydanticCustomError:
    return PydanticCustomError("unreadable", "expected {expected}", {"expected": expected})


def read_count(value: Any) -> int | None:
    """A JSON integer or a string of 1-18 digits ("1142"); ``true``, "12.5", "1e3", "" are unreadable."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise _unreadable("a whole number")


def read_flag(value: Any) -> bool | None:
    """true/false, "true"/"false" (any case), or 0/1."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _unreadable("true or false")


def read_text(value: Any) -> str | None:
    """JSON strings only: a number where text belongs is unreadable, never str(number)."""
    if value is None or isinstance(value, str):
        return value
    raise _unreadable("text")


def read_date(value: Any) -> date | None:
    """A ``YYYY-MM-DD`` string that is a real calendar date; "2026-02-30", "20260308", epoch ms are not."""
    if value is None:
        return None
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _unreadable("a YYYY-MM-DD date")


def read_note_id(value: Any) -> str:
    """A non-empty string: without it a note can be neither stored nor de-duplicated."""
    if isinstance(value, str) and value:
        return value
    raise _unreadable("a note id")


Count = Annotated[int | None, PlainValidator(read_count)]
Flag = Annotated[bool | None, PlainValidator(read_flag)]
Text = Annotated[str | None, PlainValidator(read_text)]
PublishDate = Annotated[date | None, PlainValidator(read_date)]
NoteId = Annotated[str, PlainValidator(read_note_id)]


@dataclass(frozen=True, slots=True)
class Rule:
    """What the contract says of one note field beyond its type."""

    column: str  # the warehouse column it lands in
    null_normal: float  # share of notes on which a null is ordinary data (1.0: null is a value)


def _field(column: str, null_normal: float, doc: str) -> Any:
    # No default: a key the answer does not carry is "missing", told apart from a null.
    return Field(description=doc, json_schema_extra={"column": column, "null_normal": null_normal})


class NoteContract(BaseModel):
    """One entry of ``data.list``. Unknown keys are kept (``Note.extra``): additive change is not drift."""

    model_config = ConfigDict(extra="allow", frozen=True)

    noteId: NoteId = _field("note_id", 0.0, "The note's id: 24 hex chars on the platform. Never null.")
    title: Text = _field("title", 0.01, "Title as written, emoji included; may be empty.")
    date: PublishDate = _field("publish_date", 0.01, "Publish date, YYYY-MM-DD (China calendar).")
    isVideo: Flag = _field("is_video", 0.01, "True for a video note.")
    isAdvertise: Flag = _field("is_advertise", 0.01, "True for a flagged advertising note.")
    brandName: Text = _field("brand_name", 1.0, "Brand of a cooperation; null on every other note.")
    imgUrl: Text = _field("img_url", 0.01, "Cover image URL (untrusted: escaped at output).")
    readNum: Count = _field("read_num", 0.01, "Reads (阅读量), cumulative.")
    likeNum: Count = _field("like_num", 0.01, "Likes (点赞), cumulative.")
    collectNum: Count = _field("collect_num", 0.05, "Collects (收藏), cumulative.")
    thirdReadUserNum: Count = _field("third_read_user_num", 0.05, "Readers from third-party platforms.")


def _rule(name: str) -> Rule:
    extra = NoteContract.model_fields[name].json_schema_extra
    assert isinstance(extra, dict)
    return Rule(str(extra["column"]), float(extra["null_normal"]))  # type: ignore[arg-type]


NOTE_FIELDS: tuple[str, ...] = tuple(NoteContract.model_fields)
RULES: dict[str, Rule] = {name: _rule(name) for name in NOTE_FIELDS}


def read_code(value: Any) -> int:
    """Only a JSON integer: a string "0" is no success, ``true`` is no code."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _unreadable("an integer code")


# The envelope's other fields are informational: any value is kept as text.
AnyText = Annotated[str | None, PlainValidator(lambda v: None if v is None else str(v))]


class Envelope(BaseModel):
    """The vendor's answer to every call. Only an integer ``code`` 0 is success; ``data`` is null on
    failures and ``PageData`` on success."""

    model_config = ConfigDict(extra="allow")

    code: Annotated[int, PlainValidator(read_code)]
    message: AnyText = None
    data: Any = None
    recordTime: AnyText = None
    requestId: AnyText = None


def read_total(value: Any) -> int | None:
    """``total`` as a count; missing or unreadable is None: it is only a hint (it drifts between calls),
    and without it paging runs to the end and marks nothing gone (client.py)."""
    try:
        return read_count(value)
    except ValueError:
        return None


class PageData(BaseModel):
    """``data`` of a code-0 answer: ``list`` (the notes, an array: required) and ``total``."""

    model_config = ConfigDict(extra="allow")

    notes: list[Any] = Field(alias="list")
    total: Annotated[int | None, PlainValidator(read_total)] = None


class NoteShapeError(ValueError):
    """A list entry that cannot be a note (not an object, or without a string noteId)."""


def parse_note(item: Any, counts: FieldCounts) -> Note:
    """One entry of ``data.list`` as a Note; each bad value is None and counted, the note is kept."""
    if not isinstance(item, dict):
        raise NoteShapeError(f"list entry is {type(item).__name__}, not an object")
    counts.notes += 1
    bad: dict[str, str] = {}
    model: NoteContract | None
    try:
        model = NoteContract.model_validate(item)
    except ValidationError as exc:
        bad = {str(e["loc"][0]): e["type"] for e in exc.errors() if e["loc"]}
        for e in exc.errors():
            if e["loc"] and e["type"] != "missing":
                counts.expected.setdefault(str(e["loc"][0]), e["msg"])
        model = NoteContract.model_validate({**item, **dict.fromkeys(bad)}) if "noteId" not in bad else None
    for name in NOTE_FIELDS:
        how = bad.get(name)
        if how == "missing":
            counts.add(counts.missing, name)
        elif how is not None:
            counts.add(counts.unreadable, name, item.get(name), keep=True)
        elif item.get(name) is None:
            counts.add(counts.null, name)
    for key, value in item.items():
        if key not in RULES:
            counts.add(counts.new, key, value, keep=True)
    if model is None:
        raise NoteShapeError("list entry without a string noteId")
    v = model
    return Note(
        note_id=v.noteId,
        title=v.title,
        publish_date=v.date,
        is_video=v.isVideo,
        is_advertise=v.isAdvertise,
        brand_name=v.brandName,
        img_url=v.imgUrl,
        read_num=v.readNum,
        like_num=v.likeNum,
        collect_num=v.collectNum,
        third_read_user_num=v.thirdReadUserNum,
        extra=dict(v.model_extra or {}),
    )


def parse_notes(items: list[Any]) -> tuple[tuple[Note, ...], int, int]:
    """(notes, null metrics, invalid values) of ``data.list``; raises NoteShapeError on a note without id."""
    counts = FieldCounts()
    notes, error = read_notes(items, counts)
    if error is not None:
        raise error
    return notes, counts.null_metrics, counts.invalid_values


def read_notes(items: list[Any], counts: FieldCounts) -> tuple[tuple[Note, ...], NoteShapeError | None]:
    """Every readable note of ``items``, counting every entry; the first entry that is no note, if any.

    All entries are counted before a shape error is reported, so drift (a renamed noteId) is told
    from one broken entry.
    """
    notes: list[Note] = []
    error: NoteShapeError | None = None
    for item in items:
        try:
            notes.append(parse_note(item, counts))
        except NoteShapeError as exc:
            error = error or exc
    return tuple(notes), error
