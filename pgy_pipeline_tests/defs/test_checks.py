"""Where the checks on `notes` run: never planned in a run and then skipped.

The UI's "Materialize" of `notes` launches Dagster's implicit asset job with the asset and
all its checks selected; the checks must run in that run. `refresh_kols` leaves them out;
`refresh_engagement` runs them without fetching a KOL.
"""

from __future__ import annotations

import dagster as dg

from pgy_pipeline.defs.assets.kol_notes import NOTE_PAGES, NOTES
from pgy_pipeline_tests.support import MakeEnv

COUNTS = {"kol_a": 9, "kol_b": 3}
CHECK_NAMES = (
    "notes_unique_per_kol",
    "notes_metrics_non_negative",
    "notes_match_reported_total",
    "roster_refreshed_within_window",
    "gone_marks_not_contradicted",
    "notes_fields_readable",
)


def _steps(result: dg.ExecuteInProcessResult, event_type: dg.DagsterEventType) -> list[str]:
    return [e.step_key or "" for e in result.all_events if e.event_type == event_type]


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }


def test_a_ui_materialisation_of_notes_runs_its_checks_instead_of_skipping_them(make_env: MakeEnv):
    env = make_env(fixed_counts=COUNTS)
    env.add_kols(list(COUNTS))
    defs = env.defs
    checks = {k for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key == NOTES}
    assert {k.name for k in checks} == set(CHECK_NAMES)
    # What the UI launches from the `notes` asset page: the implicit asset job, the asset and
    # every check of it (the UI's getAssetCheckHandleInputs), for one partition.
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={NOTES}, asset_check_selection=checks
    )
    result = job.execute_in_process(instance=env.instance, partition_key="kol_a", raise_on_error=False)
    assert result.success
    assert _steps(result, dg.DagsterEventType.STEP_SKIPPED) == []
    # kol_b was never refreshed: the freshness check (a warning) says so.
    assert _check_results(result) == {k.name: k.name != "roster_refreshed_within_window" for k in checks}
    mat, _ = env.partition_status("notes")
    assert mat == {"kol_a"}
    # The raw pages were stored too, and say so, though only `notes` was asked for.
    assert env.partition_status("note_pages")[0] == {"kol_a"}

    # What notes_checks_automation launches: the checks alone, unpartitioned, no API call.
    calls = env.sim.counters().calls_total
    checks_only = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection=checks
    )
    alone = checks_only.execute_in_process(instance=env.instance, raise_on_error=False)
    assert alone.success and _steps(alone, dg.DagsterEventType.STEP_SKIPPED) == []
    assert set(_check_results(alone)) == set(CHECK_NAMES)
    assert env.sim.counters().calls_total == calls


def test_the_refresh_job_plans_no_check_and_engagement_runs_them_without_fetching(make_env: MakeEnv):
    env = make_env(fixed_counts=COUNTS)
    runs = env.refresh(list(COUNTS))
    assert [r.success for r in runs] == [True]
    refresh_events = env.instance.get_records_for_run(runs[0].run_id).records
    assert not any(
        r.event_log_entry.dagster_event_type
        in (dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, dg.DagsterEventType.STEP_SKIPPED)
        for r in refresh_events
    )
    calls = env.sim.counters().calls_total
    summary = env.engagement()
    assert summary.success
    records = env.instance.get_records_for_run(summary.run_id).records
    skipped = [r for r in records if r.event_log_entry.dagster_event_type == dg.DagsterEventType.STEP_SKIPPED]
    assert skipped == []
    evaluations = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for r in records
        if (e := r.event_log_entry.dagster_event)
        and e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }
    assert evaluations == dict.fromkeys(CHECK_NAMES, True)
    assert env.sim.counters().calls_total == calls  # the checks bought nothing
    assert not any(
        r.event_log_entry.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and r.asset_key in (NOTES, NOTE_PAGES)
        for r in records
    )


def test_a_note_the_api_drops_from_two_listings_and_lists_again_raises_the_gone_warning(make_env: MakeEnv):
    env = make_env(fixed_counts={"kol_a": 12})
    for count in (12, 11, 11, 12):  # the 12th note missing from two complete listings, then back
        env.sim.update(fixed_counts={"kol_a": count})
        assert [r.success for r in env.refresh(["kol_a"])] == [True]
    summary = env.engagement()
    assert summary.success  # a warning, not a failed run
    [evaluation] = [
        e.asset_check_evaluation_data
        for r in env.instance.get_records_for_run(summary.run_id).records
        if (e := r.event_log_entry.dagster_event)
        and e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and e.asset_check_evaluation_data.check_name == "gone_marks_not_contradicted"
    ]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["notes_returned"].value == 1 and evaluation.metadata["kols"].value == 1
