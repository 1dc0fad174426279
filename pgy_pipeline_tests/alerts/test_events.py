"""What each event says and under which key: one key per stop, per failed run, per give-up."""

from __future__ import annotations

from datetime import UTC, datetime

from pgy_pipeline.alerts import AlertKind, run_failure_alerts, stop_alert_kind, stop_key
from pgy_pipeline.defs import kol_tags
from pgy_pipeline.defs.kol_tags import FailedKol

UNTIL = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


def _tags(
    *entries: tuple[str, int | None, str], limit: int | None = kol_tags.MAX_TAG_CHARS
) -> kol_tags.RunKols:
    """A run's failed KOLs as the alert sensor reads them: through the run's tags."""
    return kol_tags.decode(kol_tags.encode([FailedKol(*e) for e in entries], limit))


def test_stop_alert_kind_by_the_stop_recorded() -> None:
    assert stop_alert_kind("quota") is AlertKind.QUOTA_STOP
    assert stop_alert_kind("balance") is AlertKind.BALANCE_STOP
    assert stop_alert_kind("token") is AlertKind.TOKEN_STOP
    assert stop_alert_kind("budget") is AlertKind.BUDGET_STOP
    assert stop_alert_kind("other") is None and stop_alert_kind(None) is None


def test_stop_keys() -> None:
    assert stop_key(AlertKind.QUOTA_STOP, UNTIL) == "quota_stop:2026-03-09T16:00:00+00:00"
    # Balance, token and budget stops are announced once per quota day (Asia/Shanghai).
    assert stop_key(AlertKind.BALANCE_STOP, now=NOW) == "balance_stop:2026-03-09"
    assert (
        stop_key(AlertKind.BUDGET_STOP, now=datetime(2026, 3, 9, 17, 0, tzinfo=UTC))
        == "budget_stop:2026-03-10"
    )


def test_a_run_stopped_by_quota_gets_the_stop_alert_only() -> None:
    alerts = run_failure_alerts(
        "r1",
        "refresh_job",
        "All API calls stopped: daily quota exceeded (code 303)",
        _tags(("u1", 303, "stop-quota"), ("u2", 303, "stop-quota"), ("u3", None, "stop-quota")),
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
    kols = _tags(("u1", 301, "retry"), ("u2", 400, "rejected"), ("u3", None, "stop-budget"))
    alerts = run_failure_alerts("r2", "refresh_job", "3 of 5 KOL(s) failed", kols, now=NOW)
    assert [a.kind for a in alerts] == [AlertKind.BUDGET_STOP, AlertKind.RUN_FAILED]
    failed = alerts[1]
    assert failed.dedup_key == "run_failed:r2"
    assert "Failed KOLs (2): u1 [301], u2 [400]" in failed.text
    assert "1 KOL(s) not retried" in failed.text


def test_a_run_without_kol_tags_still_gets_a_message() -> None:
    (alert,) = run_failure_alerts("r3", "engagement_job", "DuckDB is locked", kol_tags.decode({}))
    assert alert.kind is AlertKind.RUN_FAILED
    assert alert.title == "pgy: engagement_job run failed"
    assert alert.lines[0] == "DuckDB is locked"
    assert "Run r3" in alert.lines


def test_a_failure_message_with_a_token_is_redacted() -> None:
    (alert,) = run_failure_alerts("r4", "refresh_job", "GET /x?token=abcdef123456 failed\nTraceback ...")
    assert "abcdef123456" not in alert.text
    assert "\n" not in alert.lines[0]


def test_a_retry_run_failing_retryably_again_stays_quiet() -> None:
    again = _tags(("u1", 301, "retry"))
    assert run_failure_alerts("r5", "refresh_job", "1 of 1 failed", again, retry_run=True) == []
    # ... but not when the retry met something new.
    new = _tags(("u1", 400, "rejected"))
    (alert,) = run_failure_alerts("r6", "refresh_job", "1 of 1 failed", new, retry_run=True)
    assert alert.kind is AlertKind.RUN_FAILED
