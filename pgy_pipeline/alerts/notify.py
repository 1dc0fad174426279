"""Send an alert at most once: claim its key, post it, release the claim if delivery failed.

These functions are what the pipeline calls; none of them raises. A run must never fail
because a chat service is down or the alert variables are wrong: that is logged, and the
result says so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pgy_pipeline.justoneapi.redaction import RedactingFilter, redact
from pgy_pipeline.warehouse.state import PipelineState

from .dedup import DedupStore
from .drift import DriftedKol, drift_alerts
from .events import GivenUpKol, Labels, StoppedKol, given_up_alert, given_up_key, stop_alerts
from .model import Alert
from .sender import SendResult, WebhookSender
from .settings import URL_VAR, AlertConfigError, AlertSettings, alert_settings

log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())


@dataclass(frozen=True, slots=True)
class NotifyResult:
    """``sent``, ``duplicate`` (already sent by someone), ``disabled`` (no URL) or ``failed``."""

    status: str
    dedup_key: str = ""
    detail: str = ""

    @property
    def sent(self) -> bool:
        return self.status == "sent"


def notify(
    alert: Alert,
    data_dir: str | os.PathLike[str],
    *,
    settings: AlertSettings | None = None,
    sender: WebhookSender | None = None,
) -> NotifyResult:
    """Deliver ``alert`` unless its dedup key was delivered before (by any process)."""
    return _deliver(alert, [alert.dedup_key], data_dir, settings, sender)


def notify_stops(
    outcomes: Sequence[StoppedKol],
    data_dir: str | os.PathLike[str],
    *,
    labels: Labels | None = None,
    run_id: str | None = None,
    settings: AlertSettings | None = None,
) -> list[NotifyResult]:
    """One alert per stop (token 100, quota 303, balance 601, budget) met by these outcomes."""
    try:
        settings = settings or alert_settings()
        until = PipelineState(data_dir).quota_stop_until()
        alerts = stop_alerts(outcomes, labels=labels, quota_until=until, link=settings.run_link(run_id))
    except Exception as exc:
        return [_broken("stop alerts", exc)]
    return [notify(a, data_dir, settings=settings) for a in alerts]


def notify_drift(
    outcomes: Sequence[DriftedKol],
    data_dir: str | os.PathLike[str],
    *,
    labels: Labels | None = None,
    run_id: str | None = None,
    settings: AlertSettings | None = None,
) -> list[NotifyResult]:
    """One alert per schema drift met by these outcomes, once ever per drift (not per KOL or run)."""
    try:
        settings = settings or alert_settings()
        alerts = drift_alerts(outcomes, labels=labels, link=settings.run_link(run_id))
    except Exception as exc:
        return [_broken("drift alert", exc)]
    return [notify(a, data_dir, settings=settings) for a in alerts]


def notify_given_up(
    failures: Sequence[GivenUpKol],
    data_dir: str | os.PathLike[str],
    *,
    labels: Labels | None = None,
    settings: AlertSettings | None = None,
    now: datetime | None = None,
) -> NotifyResult:
    """One message for the given-up KOLs not announced before; cheap to call on every sensor tick."""
    if not failures:
        return NotifyResult("duplicate", detail="no KOL given up")
    try:
        settings = settings or alert_settings()
        if not settings.enabled:
            return NotifyResult("disabled", detail=f"{URL_VAR} is not set")
        by_key = {given_up_key(f): f for f in failures}
        fresh = DedupStore(data_dir).claim(by_key, now)
    except Exception as exc:
        return _broken("given-up alert", exc)
    if not fresh:
        return NotifyResult("duplicate", detail=f"{len(by_key)} given-up KOL(s) already announced")
    last_run = getattr(by_key[fresh[-1]], "last_run_id", None)
    alert = given_up_alert([by_key[k] for k in fresh], labels=labels, link=settings.run_link(last_run))
    return _post(alert, fresh, data_dir, settings, None)


def _deliver(
    alert: Alert,
    keys: Sequence[str],
    data_dir: str | os.PathLike[str],
    settings: AlertSettings | None,
    sender: WebhookSender | None,
) -> NotifyResult:
    try:
        settings = settings or alert_settings()
        if not settings.enabled:
            log.debug("alert %s not sent: %s is not set", alert.dedup_key, URL_VAR)
            return NotifyResult("disabled", alert.dedup_key, f"{URL_VAR} is not set")
        claimed = DedupStore(data_dir).claim(keys)
    except Exception as exc:
        return _broken(alert.dedup_key, exc)
    if not claimed:
        log.info("alert %s already sent", alert.dedup_key)
        return NotifyResult("duplicate", alert.dedup_key, "already sent")
    return _post(alert, claimed, data_dir, settings, sender)


def _post(
    alert: Alert,
    claimed: Sequence[str],
    data_dir: str | os.PathLike[str],
    settings: AlertSettings,
    sender: WebhookSender | None,
) -> NotifyResult:
    try:
        if sender is not None:
            result = sender.send(alert)
        else:
            with WebhookSender(settings) as own:
                result = own.send(alert)
    except Exception as exc:  # WebhookSender.send does not raise; this guards against our own bugs
        result = SendResult(False, None, settings.scrub(f"{type(exc).__name__}: {exc}"), retryable=True)
    if result.ok:
        return NotifyResult("sent", alert.dedup_key, result.detail)
    if result.retryable:
        # A later event (next run, next sensor tick) may try again; a 4xx or a bot's error code
        # will not fix itself, so those stay claimed rather than being retried every minute.
        try:
            DedupStore(data_dir).release(claimed)
        except Exception as exc:
            log.warning("cannot release alert %s for a later attempt: %s", alert.dedup_key, exc)
    return NotifyResult("failed", alert.dedup_key, result.detail)


def _broken(what: str, exc: Exception) -> NotifyResult:
    # AlertConfigError messages name the variable and never hold the URL; anything else is masked.
    detail = str(exc) if isinstance(exc, AlertConfigError) else redact(f"{type(exc).__name__}: {exc}")
    log.error("alert %s not sent: %s", what, detail)
    return NotifyResult("failed", what, detail)
