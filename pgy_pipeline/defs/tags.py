"""Run tags that one part of pgy writes and another reads (alerts, the command line's summary).

Plain strings, no Dagster import: the command line reads them without loading Dagster.
"""

TRIGGER_TAG = "pgy/trigger"  # what launched the run: cli, schedule, roster, retry
FAILED_KOLS_TAG = "pgy/failed_kols"  # "user_id:code,..." of the KOLs that failed
RETRYABLE_KOLS_TAG = "pgy/retryable_kols"  # "user_id,..." the retry sensor will re-launch
# A run that SIGINT/SIGTERM or Terminate stopped: what it did (refresh.outcomes.InterruptSummary,
# whose to_tag/from_tag encode and decode it).
INTERRUPTED_TAG = "pgy/interrupted"
