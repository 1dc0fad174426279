"""The run-failure sensor, evaluated on real failed runs: one POST per run, one per stop."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pgy_pipeline.alerts import AlertConfigError
from pgy_pipeline.defs import kol_tags
from pgy_pipeline.defs.alerts import ALERT_SENSOR_NAME, alert_given_up, pgy_alert_on_run_failure
from pgy_pipeline.defs.kol_tags import FailedKol
from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.warehouse.state import PipelineState

from .conftest import HOOK_SECRET, Receiver


@dg.op
def fetch_kols(context: dg.OpExecutionContext) -> None:
    # What kol_notes does when KOLs fail: tag the run, then raise a Failure written for people.
    failed = [FailedKol("u1", 301, "retry"), FailedKol("u2", 400, "rejected")]
    context.instance.add_run_tags(context.run_id, kol_tags.encode(failed))
    raise dg.Failure(description="2 of 3 KOL(s) failed: 1 retryable (301 x1); 1 rejected (400 x1).")


@dg.job
def failing_job() -> None:
    fetch_kols()


def _evaluate(instance: dg.DagsterInstance, run_id: str, data_dir: Path) -> Any:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    event = records[0].event_log_entry.dagster_event
    assert event is not None
    context = dg.build_run_status_sensor_context(
        sensor_name=ALERT_SENSOR_NAME,
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"pgy": PgyResource(data_dir=str(data_dir))},
    ).for_run_failure()
    return pgy_alert_on_run_failure(context)


@pytest.fixture
def webhook(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("PGY_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("PGY_ALERT_WEBHOOK_KIND", "feishu")
    monkeypatch.setenv("PGY_DAGSTER_URL", "http://dagster.local:3000")
    return receiver


def test_a_failed_run_gives_one_message(webhook: Receiver, data_dir: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    tick = _evaluate(instance, result.run_id, data_dir)
    again = _evaluate(instance, result.run_id, data_dir)  # a re-evaluation, or another daemon
    assert isinstance(tick, dg.SkipReason) and "sent" in (tick.skip_message or "")
    assert "duplicate" in (again.skip_message or "")
    (body,) = webhook.posts
    text = body["content"]["text"]
    assert text.startswith("pgy: failing_job run failed (2 KOL(s))")
    assert "2 of 3 KOL(s) failed" in text
    assert "u1 [301], u2 [400]" in text
    assert f"http://dagster.local:3000/runs/{result.run_id}" in text
    assert HOOK_SECRET not in (tick.skip_message or "")


def test_without_a_url_the_sensor_says_so_and_sends_nothing(
    receiver: Receiver, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGY_ALERT_WEBHOOK_URL", raising=False)
    instance = dg.DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    tick = _evaluate(instance, result.run_id, data_dir)
    assert "PGY_ALERT_WEBHOOK_URL is not set" in (tick.skip_message or "")
    assert receiver.posts == []


def test_balance_stop_across_two_refresh_runs_is_one_message(webhook: Receiver, make_env: Any) -> None:
    env = make_env(
        fixed_counts={"k1": 9, "k2": 9, "k3": 9},
        user_codes={"k1": 601},
        pgy={"kol_workers": 1},
        instance="ephemeral",
    )
    env.add_kols(["k1", "k2", "k3"])
    runs = env.refresh(["k1", "k2", "k3"]) + env.refresh(["k1"])
    assert [r.success for r in runs] == [False, False]
    assert "k1:601" in runs[0].tags.get("pgy/failed_kols", "")
    ticks = [_evaluate(env.instance, r.run_id, env.data_dir) for r in runs]
    assert "balance_stop" in (ticks[0].skip_message or "")
    (body,) = webhook.posts
    text = body["content"]["text"]
    assert text.startswith("pgy: Just One API balance exhausted (601)")
    assert "top up the Just One API balance" in text
    assert HOOK_SECRET not in text


def test_given_up_helper_announces_state_failures_once(webhook: Receiver, data_dir: Path) -> None:
    state = PipelineState(data_dir)
    common: dict[str, Any] = {"run_id": "r1", "cooldown_s": 1, "max_attempts": 2, "failed_pages": "1"}
    # A 400 is given up at once, and its run's own message already said so: no second message.
    state.record_failure("k8", code=400, error_kind="rejected", message="bad", retryable=False, **common)
    for _ in range(2):
        state.record_failure("k9", code=301, error_kind="retry", message="code 301", retryable=True, **common)
    state.record_failure("k7", code=500, error_kind="retry", message="code 500", retryable=True, **common)
    pgy = PgyResource(data_dir=str(data_dir))
    assert alert_given_up(pgy, state.failures()).sent
    assert alert_given_up(pgy, state.failures()).status == "duplicate"
    (body,) = webhook.posts
    text = body["content"]["text"]
    assert "No more automatic retries for 1 KOL(s): k9 [301, 2 attempt(s)]" in text
    assert "k8" not in text and "k7" not in text


def test_the_sensor_loads_in_definitions(tmp_path: Path) -> None:
    defs = dg.Definitions(
        jobs=[failing_job],
        sensors=[pgy_alert_on_run_failure],
        resources={"pgy": PgyResource(data_dir=str(tmp_path))},
    )
    dg.Definitions.validate_loadable(defs)
    sensor = defs.resolve_sensor_def(ALERT_SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_bad_kind_errors_the_tick_clearly(
    webhook: Receiver, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGY_ALERT_WEBHOOK_KIND", "msteams")
    instance = dg.DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    with pytest.raises(AlertConfigError, match=r"PGY_ALERT_WEBHOOK_KIND='msteams'.*feishu\|dingtalk") as err:
        _evaluate(instance, result.run_id, data_dir)
    assert HOOK_SECRET not in str(err.value)
    assert webhook.posts == []


def test_alert_stops_sends_one_message_per_stop(webhook: Receiver, data_dir: Path) -> None:
    from pgy_pipeline.defs.alerts import alert_stops
    from pgy_pipeline.refresh import KolOutcome, KolStatus
    from pgy_pipeline.refresh.outcomes import ErrorKind

    outcomes = [
        KolOutcome(
            "k1", KolStatus.STOPPED, error_kind=ErrorKind.STOP, stop_kind="budget", message="budget spent"
        ),
        KolOutcome(
            "k2", KolStatus.STOPPED, error_kind=ErrorKind.STOP, stop_kind="budget", message="budget spent"
        ),
        KolOutcome("k3", KolStatus.OK),
    ]
    pgy = PgyResource(data_dir=str(data_dir))
    assert [r.status for r in alert_stops(pgy, outcomes, "run-1")] == ["sent"]
    assert [r.status for r in alert_stops(pgy, outcomes, "run-2")] == ["duplicate"]
    assert alert_stops(pgy, outcomes[2:], "run-3") == []
    (body,) = webhook.posts
    assert body["content"]["text"].startswith("pgy: daily call budget spent")
    assert "KOLs not refreshed (2): k1, k2" in body["content"]["text"]


def _posted(webhook: Receiver) -> list[str]:
    return [body["content"]["text"] for body in webhook.posts]


def test_a_run_with_more_failed_kols_than_its_tags_hold_is_told_right(
    webhook: Receiver, make_env: Any
) -> None:
    # 150 KOLs failing with 301 (retried), then 30 the API refuses (600): about 140 entries fit a tag.
    flaky = [f"5f{i:022x}" for i in range(150)]
    denied = [f"6a{i:022x}" for i in range(30)]
    env = make_env(
        fixed_counts=dict.fromkeys(flaky + denied, 3),
        user_codes=dict.fromkeys(flaky, 301),
        forbidden_users=set(denied),
        api={"max_attempts": 1},
        instance="ephemeral",
    )
    (run,) = env.refresh(flaky + denied)
    assert not run.success
    kols = kol_tags.decode(run.tags)
    assert 0 < len(kols.failed) < 180 and kols.failed_count == 180
    truth = {**dict.fromkeys(flaky, 301), **dict.fromkeys(denied, 600)}
    assert all(truth[f.user_id] == f.code for f in kols.failed)  # whole entries: no KOL or code cut
    assert set(kols.retryable) <= set(flaky) and kols.retryable_count == 150
    tick = _evaluate(env.instance, run.run_id, env.data_dir)
    assert "sent" in (tick.skip_message or "")
    (text,) = _posted(webhook)
    assert "(180 KOL(s))" in text.splitlines()[0]
    assert "Failed KOLs (180): 5f0000000000000000000000 [301]" in text
    assert "check the user ids or permissions of the 30 KOL(s) not retried" in text
    assert "the 150 retryable ones are re-run by the retry sensor" in text
    # Every KOL is in the step failure's metadata, whatever the tags had room for.
    failure = next(
        e for e in env.instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.is_step_failure
    )
    meta = failure.dagster_event.step_failure_data.user_failure_data.metadata["failed_kols_all"].value
    assert kol_tags.decode({"pgy/failed_kols": meta}).failed_count == 180 and "more" not in meta


def test_the_stop_a_run_met_is_told_whatever_stop_is_active_when_the_sensor_runs(
    webhook: Receiver, make_env: Any
) -> None:
    env = make_env(
        fixed_counts={"k1": 30, "k2": 30}, daily_quota=2, pgy={"kol_workers": 1}, instance="ephemeral"
    )
    env.add_kols(["k1", "k2"])
    env.refresh(["k1", "k2"])  # meets 303: a quota stop until the reset
    (refused,) = env.refresh(["k1"])  # refused before any call by the active quota stop
    assert kol_tags.decode(refused.tags).stop_counts == {"quota": 1}
    PipelineState(env.data_dir).clear_stop("quota")  # `pgy status --clear-stop` before the sensor runs
    sent = len(webhook.posts)  # the step announced the stop it met
    _evaluate(env.instance, refused.run_id, env.data_dir)
    (text,) = _posted(webhook)[sent:]
    assert text.startswith("pgy: Just One API daily quota exhausted (303)"), text

    budget = make_env(fixed_counts={"k3": 30}, pgy={"daily_call_budget": 1}, instance="ephemeral")
    (spent,) = budget.refresh(["k3"])
    assert kol_tags.decode(spent.tags).stop_counts == {"budget": 1}
    # A quota stop is active when the sensor runs; the run met our own budget.
    PipelineState(budget.data_dir).set_stop("quota", datetime.now(UTC) + timedelta(hours=1), "quota")
    tick = _evaluate(budget.instance, spent.run_id, budget.data_dir)
    # The budget stop's alert (the step sent it as the run met it), not a quota stop's.
    assert "budget_stop:" in (tick.skip_message or "") and "quota_stop" not in (tick.skip_message or "")
