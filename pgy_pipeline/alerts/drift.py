"""One alert per schema drift: not one per KOL, per run or per day.

A drift is named by its key (``justoneapi.Drift.key``: which fields broke and how), the same on every
KOL, run and day the vendor's change lasts, so the group hears of it once (the dedup store forgets a
key after 90 days: a drift still there then is told again). The refresh step sends the alert as it
ends; the run-failure sensor builds the same alert from the run's ``pgy/schema_drift`` tag (MetDrift), so a
delivery the step could not make is made later, and a run that failed only by drift adds no message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from pgy_pipeline.justoneapi.redaction import redact

from .model import Alert, AlertKind, kol_list

SCHEMA_KIND = "schema"  # the error kind of a drifted or drift-stopped KOL (refresh.ErrorKind.SCHEMA)


class MetDrift(Protocol):
    """A drift a run met, as its ``pgy/schema_drift`` tag says (defs/tags.py DriftTag decodes it)."""

    @property
    def key(self) -> str: ...
    @property
    def detail(self) -> str: ...


class DriftedKol(Protocol):
    """The fields of ``refresh.KolOutcome`` a drift alert reads."""

    @property
    def user_id(self) -> str: ...
    @property
    def error_kind(self) -> str | None: ...
    @property
    def drift(self) -> str | None: ...
    @property
    def drift_key(self) -> str | None: ...


def drift_dedup_key(key: str) -> str:
    return "schema_drift:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def drift_alert(
    key: str,
    detail: str,
    user_ids: Sequence[str],
    *,
    labels: Mapping[str, str | None] | None = None,
    link: str | None = None,
) -> Alert:
    lines = [
        f"The API's answers no longer match the data contract: {redact(detail)}",
        "Nothing was written: stored notes are unchanged, the raw pages are kept; the run stopped buying.",
        f"KOLs not refreshed ({len(set(user_ids))}): {kol_list(user_ids, labels)}" if user_ids else "",
        "To do: upgrade pgy-pipeline to a version that reads the new shape, then `pgy replay` (no API "
        "call) and `pgy refresh` (README, 'When a run fails').",
    ]
    title = "pgy: Just One API answers changed shape (schema drift)"
    return Alert(AlertKind.SCHEMA_DRIFT, title, tuple(lines), drift_dedup_key(key), link)


def drift_alerts(
    outcomes: Sequence[DriftedKol],
    *,
    labels: Mapping[str, str | None] | None = None,
    link: str | None = None,
) -> list[Alert]:
    """One alert per drift these refresh outcomes met, naming every KOL the drift left unrefreshed."""
    drifts = {o.drift_key: o.drift or "" for o in outcomes if o.drift_key}
    users = [o.user_id for o in outcomes if o.error_kind == SCHEMA_KIND]
    return [drift_alert(k, d, users, labels=labels, link=link) for k, d in drifts.items()]
