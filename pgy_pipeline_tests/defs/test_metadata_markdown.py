"""Markdown metadata the UI renders: text from the API or the roster stays text."""

from __future__ import annotations

import re

import pandas as pd

from pgy_pipeline.defs.metadata import md_table, outcome_table
from pgy_pipeline.refresh import ErrorKind, KolOutcome, KolStatus

HOSTILE = "a | 99999 |\n[click](javascript:alert(1)) <img src=x onerror=alert(1)> **bold** `code`"


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_a_hostile_message_stays_in_its_cell_and_marks_nothing_up():
    failed = KolOutcome(
        "kol_x", KolStatus.FAILED, error_kind=ErrorKind.REJECTED, error_code=100, message=HOSTILE
    )
    md = outcome_table([failed], {"kol_x": "小红 | 1"})
    header, _rule, row = md.splitlines()  # one row: the newline did not end it
    assert _unescaped_pipes(row) == _unescaped_pipes(header)  # no extra column
    for special in "[]<>*`":  # nothing left that could open a link, a tag or emphasis
        assert not re.search(rf"(?<!\\){re.escape(special)}", row), special
    assert r"\[click\](javascript:alert(1)) \<img src=x onerror=alert(1)\>" in row


def test_numbers_and_plain_text_are_left_as_they_are():
    md = md_table(pd.DataFrame({"kol": ["美妆博主Lily"], "reads": [6126], "rate": [0.0413]}))
    assert "美妆博主Lily" in md and "6126" in md and "0.0413" in md
