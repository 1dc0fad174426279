"""Asset checks on `notes`: they read the whole table (the working copy, under the writer lock).

They are declared on the `kol_notes` multi-asset (``check_specs``, ``can_subset=True``) and
evaluated by its step, and only when selected: a Materialize of `notes` from the UI selects
them, so they run right after that refresh in the same step and the run shows their results;
`refresh_kols` leaves them out (``without_checks()``), so a refresh of many KOLs does not read
the whole table once per run; the automation sensor and `refresh_engagement` run them alone
(no KOL fetched, no API call). Declared as separate ``@asset_check`` ops they would be planned
in every UI run and then skipped, because the multi-asset reports each KOL through
AssetMaterialization events and never yields its outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import dagster as dg
import duckdb

from pgy_pipeline.defs.keys import NOTES
from pgy_pipeline.defs.metadata import preview
from pgy_pipeline.defs.partitions import KOLS_PARTITIONS_NAME
from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.warehouse import queries
from pgy_pipeline.warehouse.field_shares import HISTORY_DAYS, SHARE_RISE, field_shares

# The schedule runs daily; a KOL not refreshed for longer than this is stale.
FRESHNESS_WINDOW = timedelta(hours=26)
# How far back gone marks the API contradicted are reported (gone_marks_not_contradicted).
GONE_REVIEW_WINDOW = timedelta(days=30)
# Slack on top of the drift the API itself showed within a fetch.
TOTAL_SLACK = 1
# Checks read the whole table, so they run after KOL partitions update (through the
# automation sensor) rather than inside each refresh step, and in `refresh_engagement`.
CHECK_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated().since_last_handled().with_label("after notes update")
)

# Each check reads the working copy through the one connection its step opened for all of them.
Evaluate = Callable[[duckdb.DuckDBPyConnection, dg.DagsterInstance], dg.AssetCheckResult]
_EVALUATORS: dict[str, Evaluate] = {}


def _notes_check(fn: Evaluate) -> Evaluate:
    _EVALUATORS[fn.__name__] = fn
    return fn


@_notes_check
def notes_unique_per_kol(
    conn: duckdb.DuckDBPyConnection, instance: dg.DagsterInstance
) -> dg.AssetCheckResult:
    """(user_id, note_id) is unique in notes."""
    dups = queries.duplicate_note_keys(conn)
    return dg.AssetCheckResult(
        passed=len(dups) == 0, metadata={"duplicate_keys": len(dups), "examples": preview(dups)}
    )


@_notes_check
def notes_metrics_non_negative(
    conn: duckdb.DuckDBPyConnection, instance: dg.DagsterInstance
) -> dg.AssetCheckResult:
    """Reads, likes, collects and third-party reads are never negative."""
    n, bad = queries.negative_metric_rows(conn)
    return dg.AssetCheckResult(passed=n == 0, metadata={"negative_rows": n, "examples": preview(bad)})


@_notes_check
def notes_match_reported_total(
    conn: duckdb.DuckDBPyConnection, instance: dg.DagsterInstance
) -> dg.AssetCheckResult:
    """For each KOL's latest complete, unfiltered fetch, the live notes stored lie within the range of
    `total` the API reported during that fetch (it drifts), plus one note of slack."""
    checked, off = queries.kols_off_reported_total(conn, TOTAL_SLACK)
    return dg.AssetCheckResult(
        passed=len(off) == 0,
        metadata={"kols_checked": checked, "kols_off": len(off), "examples": preview(off)},
    )


@_notes_check
def roster_refreshed_within_window(
    conn: duckdb.DuckDBPyConnection, instance: dg.DagsterInstance
) -> dg.AssetCheckResult:
    """Every KOL on the roster had a complete fetch within the last 26 hours."""
    roster = instance.get_dynamic_partitions(KOLS_PARTITIONS_NAME)
    fresh = queries.kols_complete_within(conn, FRESHNESS_WINDOW)
    stale = [u for u in roster if u not in fresh]
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "roster_kols": len(roster),
            "stale_kols": len(stale),
            "stale_examples": ", ".join(stale[:20]) or "-",
        },
    )


@_notes_check
def gone_marks_not_contradicted(
    conn: duckdb.DuckDBPyConnection, instance: dg.DagsterInstance
) -> dg.AssetCheckResult:
    """No note marked gone in the last 30 days was listed again by the API. A return means two
    complete listings left out a live note, so the gone rule acted on wrong evidence for that KOL:
    its notes were out of the engagement figures meanwhile (they are back now)."""
    notes, per_kol = queries.kols_with_reversed_gone_marks(conn, GONE_REVIEW_WINDOW)
    return dg.AssetCheckResult(
        passed=notes == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "window_days": GONE_REVIEW_WINDOW.days,
            "notes_returned": notes,
            "kols": len(per_kol),
            "examples": preview(per_kol),
        },
    )


@_notes_check
def notes_fields_readable(
    conn: duckdb.DuckDBPyConnection, instance: dg.DagsterInstance
) -> dg.AssetCheckResult:
    """Per note field, the share of null and unreadable values in each KOL's latest fetch is not more
    than 20 points above what the KOLs' own fetches of the last 30 days predict: a slow drift of the
    API that would skew the tables before any page breaks the contract."""
    shares = field_shares(conn, SHARE_RISE)
    risen = shares[shares["rise"] > SHARE_RISE]
    return dg.AssetCheckResult(
        passed=risen.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "threshold": SHARE_RISE,
            "history_days": HISTORY_DAYS,
            "fields_risen": ", ".join(risen["field"]) or "-",
            "fields": preview(shares),
        },
    )


NOTES_CHECK_SPECS = [
    dg.AssetCheckSpec(
        name,
        asset=NOTES,
        description=" ".join((fn.__doc__ or "").split()),
        automation_condition=CHECK_AUTOMATION,
    )
    for name, fn in _EVALUATORS.items()
]


def run_selected_checks(context: dg.AssetExecutionContext, pgy: PgyResource) -> Iterator[dg.AssetCheckResult]:
    """Evaluate the checks this step was asked for (none in a `refresh_kols` run)."""
    keys = sorted(context.selected_asset_check_keys, key=lambda k: k.name)
    if not keys:
        return
    with pgy.warehouse().read_working() as conn:  # one connection, and the writer lock only while reading
        results = [(key, _EVALUATORS[key.name](conn, context.instance)) for key in keys]
    for key, r in results:
        yield dg.AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=r.passed,
            severity=r.severity,
            metadata=r.metadata,
        )
