"""Alerts to a group chat (Feishu, DingTalk, WeCom, Slack or plain JSON) when the pipeline needs a person.

No Dagster here: the sensors call ``notify*`` with plain values. Configured by
``PGY_ALERT_WEBHOOK_URL`` (a secret), ``PGY_ALERT_WEBHOOK_KIND`` and ``PGY_DAGSTER_URL``.
"""

from .dedup import DedupStore
from .drift import MetDrift, drift_alert, drift_alerts
from .events import (
    given_up_alert,
    given_up_key,
    stop_alert,
    stop_alert_kind,
    stop_alerts,
    stop_key,
)
from .formats import render, truncate_bytes
from .model import Alert, AlertKind, kol_list
from .notify import NotifyResult, notify, notify_drift, notify_given_up, notify_stops
from .runs import RunFailures, run_failed_alert, run_failure_alerts
from .sender import SendResult, WebhookSender
from .settings import (
    DAGSTER_URL_VAR,
    KIND_VAR,
    URL_VAR,
    AlertConfigError,
    AlertSettings,
    WebhookKind,
    alert_settings,
)

__all__ = [
    "DAGSTER_URL_VAR",
    "KIND_VAR",
    "URL_VAR",
    "Alert",
    "AlertConfigError",
    "AlertKind",
    "AlertSettings",
    "DedupStore",
    "MetDrift",
    "NotifyResult",
    "RunFailures",
    "SendResult",
    "WebhookKind",
    "WebhookSender",
    "alert_settings",
    "drift_alert",
    "drift_alerts",
    "given_up_alert",
    "given_up_key",
    "kol_list",
    "notify",
    "notify_drift",
    "notify_given_up",
    "notify_stops",
    "render",
    "run_failed_alert",
    "run_failure_alerts",
    "stop_alert",
    "stop_alert_kind",
    "stop_alerts",
    "stop_key",
    "truncate_bytes",
]
