"""What each event says and under which key: one key per stop, per failed run, per give-up."""

from __future__ import annotations

from datetime import UTC, datetime

from pgy_pipeline.alerts import AlertKind, parse_kol_tag, run_failure_alerts, stop_key, stop_kind

UNTIL = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


def test_stop_kind_from_code_or_summary() -> None:
    assert stop_kind(303) is AlertKind.QUOTA_STOP
    assert stop_kind(601) is AlertKind.BALANCE_STOP
    assert stop_kind(100) is AlertKind.TOKEN_STOP
    assert stop_kind(None, "call budget exhausted") is AlertKind.BUDGET_STOP
    # What a run refused by an active stop carries (PipelineState's reason).
    assert stop_kind(None, "daily quota exceeded (code 303)") is AlertKind.QUOTA_STOP
    assert stop_kind(301, "transient failure") is None


def test_stop_keys() -> None:
    assert stop_key(AlertKind.QUOTA_STOP, UNTIL) == "quota_stop:2026-03-09T16:00:00+00:00"
    # Balance, token and budget stops are announced once per quota day (Asia/Shanghai).
    assert stop_key(AlertKind.BALANCE_STOP, now=NOW) == "balance_stop:2026-03-09"
    assert (
        stop_key(AlertKind.BUDGET_STOP, now=datetime(2026, 3, 9, 17, 0, tzinfo=UTC))
        == "budget_stop:2026-03-10"
    )


def test_parse_kol_tag() -> None:
    assert parse_kol_tag("u1:301, u2:stop,,u3") == [("u1", "301"), ("u2", "stop"), ("u3", "")]
    assert parse_kol_tag(None) == []


def test_a_run_stopped_by_quota_gets_the_stop_alert_only() -> None:
    alerts = run_failure_alerts(
        "r1",
        "refresh_job",
        "All API calls stopped: daily quota exceeded (code 303)",
        "u1:303,u2:303,u3:stop",
        "",
        labels={"u1": "Alice"},
        quota_until=UNTIL,
        now=NOW,
    )
    (alert,) = alerts
    assert alert.kind is AlertKind.QUOTA_STOP
    assert alert.dedup_key == "quota_stop:2026-03-09T16:00:00+00:00"
    assert "No calls until 2026-03-10 00:00 Asia/Shanghai" in alert.text
    assert "KOLs not refreshed (3): u1 (Alice), u2, u3" in alert.text


def test_a_run_with_stops_and_other_failures_gets_both() -> None:
    alerts = run_failure_alerts(
        "r2", "refresh_job", "3 of 5 KOL(s) failed", "u1:301,u2:400,u3:stop", "u1", now=NOW
    )
    assert [a.kind for a in alerts] == [AlertKind.BUDGET_STOP, AlertKind.RUN_FAILED]
    failed = alerts[1]
    assert failed.dedup_key == "run_failed:r2"
    assert "Failed KOLs (2): u1 [301], u2 [400]" in failed.text
    assert "1 KOL(s) not retried" in failed.text


def test_a_run_without_kol_tags_still_gets_a_message() -> None:
    (alert,) = run_failure_alerts("r3", "engagement_job", "DuckDB is locked", None, None)
    assert alert.kind is AlertKind.RUN_FAILED
    assert alert.title == "pgy: engagement_job run failed"
    assert alert.lines[0] == "DuckDB is locked"
    assert "Run r3" in alert.lines


def test_a_failure_message_with_a_token_is_redacted() -> None:
    (alert,) = run_failure_alerts("r4", "refresh_job", "GET /x?token=abcdef123456 failed\nTraceback ...")
    assert "abcdef123456" not in alert.text
    assert "\n" not in alert.lines[0]


def test_a_retry_run_failing_retryably_again_stays_quiet() -> None:
    assert run_failure_alerts("r5", "refresh_job", "1 of 1 failed", "u1:301", "u1", retry_run=True) == []
    # ... but not when the retry met something new.
    (alert,) = run_failure_alerts("r6", "refresh_job", "1 of 1 failed", "u1:400", "", retry_run=True)
    assert alert.kind is AlertKind.RUN_FAILED
