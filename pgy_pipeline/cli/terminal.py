"""Tables printed for people: each text cell ``visible`` (justoneapi/untrusted.py).

CSV, JSON and files written with ``--output`` keep the values verbatim, as stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgy_pipeline.justoneapi.untrusted import visible

if TYPE_CHECKING:
    import pandas as pd


def table_text(df: pd.DataFrame, **to_string: object) -> str:
    """``df.to_string`` with every text cell passed through ``visible``."""
    text_cols = [c for c in df.columns if df[c].dtype == object]
    shown = df.assign(**{c: df[c].map(lambda v: visible(v) if isinstance(v, str) else v) for c in text_cols})
    return shown.to_string(index=False, **to_string)  # type: ignore[arg-type]
