"""Text from the API shown on a terminal: control characters made visible, never obeyed.

A title or brand name may hold ANSI escape sequences (clear the screen, retitle the window,
forge a line) or bidirectional overrides that show text reversed. Tables printed for people
show each such character as an escape (``\\x1b``, ``\\u202e``); CSV, JSON and files written
with ``--output`` keep the values verbatim, as stored.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# C0 and C1 controls (newline and tab too: inside a cell they would break the table), DEL, and
# the bidirectional embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every control or bidi character written as its escape."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def table_text(df: pd.DataFrame, **to_string: object) -> str:
    """``df.to_string`` with every text cell passed through ``visible``."""
    text_cols = [c for c in df.columns if df[c].dtype == object]
    shown = df.assign(**{c: df[c].map(lambda v: visible(v) if isinstance(v, str) else v) for c in text_cols})
    return shown.to_string(index=False, **to_string)  # type: ignore[arg-type]
