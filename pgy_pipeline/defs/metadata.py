"""Metadata people act on: column schemas, failure summaries, Markdown previews."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from pgy_pipeline.refresh import ErrorKind, KolOutcome, KolStatus
from pgy_pipeline.warehouse.catalog import catalog

if TYPE_CHECKING:
    import pandas as pd


def column_schema(table: str) -> dg.TableSchema:
    """The table's columns with their DuckDB types and COMMENTs, for the UI."""
    t = catalog()[table]
    return dg.TableSchema(
        columns=[dg.TableColumn(c.name, c.type, description=c.description) for c in t.columns]
    )


# Every KOL of a run that met a stop (token, quota, balance, budget) failed for that one reason.
STOP_PREFIX = "All API calls stopped"
# A run that met schema drift: its first line says which field changed and how.
DRIFT_PREFIX = "The API's answers changed shape"


def drift_message(failed: Sequence[KolOutcome], total: int) -> str | None:
    """The first line of a run that met schema drift (None when it did not)."""
    schema = [o for o in failed if o.error_kind == ErrorKind.SCHEMA]
    first = next((o for o in schema if o.drift), None)
    if first is None:
        return None
    drifted = sum(o.status == KolStatus.FAILED for o in schema)
    unbought = len(schema) - drifted
    return (
        f"{DRIFT_PREFIX} (schema drift): {first.drift}. {drifted} KOL(s) answered so"
        + (f", {unbought} more not bought after it" if unbought else "")
        + f"; {len(schema)} of {total} KOL(s) not refreshed, nothing written (stored values unchanged, "
        "raw pages kept), not retried. To do: upgrade pgy-pipeline to read the new shape, then "
        "`pgy replay` and refresh (README, 'When a run fails')."
    )


def failure_message(failed: Sequence[KolOutcome], total: int) -> str:
    """First line: what happened and what to do. Never contains the token (messages are redacted)."""
    stopped = [o for o in failed if o.status == KolStatus.STOPPED and o.error_kind != ErrorKind.SCHEMA]
    drift = drift_message(failed, total)
    if drift and not stopped:
        # Drift first: it concerns every KOL; other failures of the run follow it.
        others = [o for o in failed if o.error_kind != ErrorKind.SCHEMA]
        return drift + (" Besides: " + failure_message(others, total) if others else "")
    if stopped:
        # The KOL that met the stop first carries the code; the others were refused locally.
        first = next((o for o in stopped if o.error_code is not None), stopped[0])
        code = f" (code {first.error_code})" if first.error_code is not None else ""
        what = first.summary or "calls stopped"
        todo = f": {first.action}" if first.action else ""
        return (
            f"{STOP_PREFIX}: {what}{code}{todo}. {len(stopped)} of {total} KOL(s) not refreshed; "
            f"stops are not retried by the retry sensor. Detail: {first.message}"
        )
    retryable = [o for o in failed if o.retryable]
    rejected = [o for o in failed if not o.retryable]
    parts = []
    if retryable:
        codes = Counter(str(o.error_code or o.error_kind) for o in retryable)
        parts.append(
            f"{len(retryable)} retryable ({', '.join(f'{c} x{n}' for c, n in codes.items())}): "
            "the retry sensor re-runs them after a cooldown, buying only the missing pages"
        )
    if rejected:
        codes = Counter(str(o.error_code or o.error_kind) for o in rejected)
        parts.append(
            f"{len(rejected)} rejected ({', '.join(f'{c} x{n}' for c, n in codes.items())}): "
            "not retried; check the user id or permissions"
        )
    return f"{len(failed)} of {total} KOL(s) failed: " + "; ".join(parts) + "."


def no_content_metadata(o: KolOutcome) -> dict[str, Any]:
    """What a KOL's partitions say when the API answered 201 (no content) for it."""
    return {
        "no_content": True,
        "api_code": 201,
        "api_calls": o.calls,
        "message": o.message or "",
        "fetch_id": o.fetch_id,
    }


# Markdown (and the HTML it may carry) in a table cell: escaped, so a value from the API or the
# roster renders as the text it is and never splits a row, links, embeds or tags. Ids keep their
# underscores: an intraword `_` is no emphasis, and emphasis could not forge a figure anyway.
_MD_SPECIAL = frozenset("\\`*[]<>|")


def md_text(value: object) -> object:
    """A table cell's value as literal Markdown text; numbers, dates and None pass as they are."""
    if not isinstance(value, str):
        return value
    flat = " ".join(value.split())  # a newline would end the row
    return "".join(f"\\{c}" if c in _MD_SPECIAL else c for c in flat)


def md_table(df: pd.DataFrame, **tabulate: Any) -> str:
    """``df`` as a Markdown table whose every text cell is escaped (``md_text``)."""
    text_cols = [c for c in df.columns if df[c].dtype == object]
    escaped = df.assign(**{c: df[c].map(md_text) for c in text_cols}) if text_cols else df
    return escaped.to_markdown(index=False, **tabulate)


def outcome_table(
    outcomes: Sequence[KolOutcome], labels: Mapping[str, str | None] | None = None, limit: int = 50
) -> str:
    labels = labels or {}
    rows = [
        {
            "label": labels.get(o.user_id) or "",
            "user_id": o.user_id,
            "status": o.status,
            "code": o.error_code,
            "kind": o.error_kind,
            "failed_pages": o.failed_pages,
            "pages_stored": o.pages,
            "message": (o.message or "")[:160],
        }
        for o in outcomes[:limit]
    ]
    if not rows:
        return "(none)"
    import pandas as pd  # here, not at import (see warehouse/writes.py)

    md = md_table(pd.DataFrame(rows))
    if len(outcomes) > limit:
        md += f"\n\n... and {len(outcomes) - limit} more"
    return md


def preview(df: pd.DataFrame, floatfmt: str = ".4g") -> dg.MetadataValue:
    return dg.MetadataValue.md(md_table(df, floatfmt=floatfmt) if len(df) else "(no rows)")
