"""Text the API sent, made safe to show: control characters visible, never obeyed.

A title, brand name or error message may hold ANSI escape sequences (clear the screen, retitle
the window, forge a log line) or bidirectional overrides that show text reversed. Where such
text reaches a person (an error message, a log line, a table on a terminal) each of those
characters is written as its escape (``\\x1b``, ``\\u202e``). Stored values stay verbatim.
"""

from __future__ import annotations

import re

# C0 and C1 controls (newline and tab too), DEL, and the bidi embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every control or bidi character written as its escape."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def snippet(text: str, limit: int) -> str:
    """At most ``limit`` characters of ``text`` for a message: whitespace collapsed, ``visible``."""
    collapsed = visible(" ".join(text.split()))
    return collapsed[:limit] + ("..." if len(collapsed) > limit else "")
