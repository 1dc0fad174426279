"""Run tags that one part of pgy writes and another reads (alerts, the command line's summary).

Plain strings, no Dagster import: the command line reads them without loading Dagster.
"""

TRIGGER_TAG = "pgy/trigger"  # what launched the run: cli, schedule, roster, retry
RATE_TAG = "pgy/rate_limit_per_s"  # the calls per second the run's client allowed itself
# The failed KOLs of a run; their format is defs/kol_tags.py's (encode, decode), nobody else's.
FAILED_KOLS_TAG = "pgy/failed_kols"  # "user_id:code:reason,..." of the KOLs that failed
RETRYABLE_KOLS_TAG = "pgy/retryable_kols"  # "user_id,..." the retry sensor will re-launch
SCHEMA_DRIFT_TAG = "pgy/schema_drift"  # the drift a run met (alerts.events.drift_tag): one alert per drift
FAILED_BY_REASON_TAG = "pgy/failed_by_reason"  # "reason:count,..." over every failed KOL
