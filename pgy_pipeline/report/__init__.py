"""The KOL scorecard: a static HTML report (leaderboard, one page per KOL, a comparison) that
analysts can open offline or mail as a folder. Reads the warehouse read-only; no Dagster here."""

from pgy_pipeline.report.compare_page import COMPARE_MAX, COMPARE_MIN
from pgy_pipeline.report.write import ReportError, ReportResult, write_report

__all__ = ["COMPARE_MAX", "COMPARE_MIN", "ReportError", "ReportResult", "write_report"]
