"""``kol_report``: the static HTML scorecard analysts send, rewritten after the engagement tables."""

import dagster as dg

from pgy_pipeline import settings
from pgy_pipeline.defs.assets.engagement import ENGAGEMENT_AUTOMATION, kol_engagement
from pgy_pipeline.defs.resources import PgyResource
from pgy_pipeline.report import write_report
from pgy_pipeline.report.upload import upload_report


@dg.asset(
    deps=[kol_engagement],
    description=(
        "A static HTML report under data/reports/: the leaderboard (index.html, sortable, filtered by "
        "category, cost, percentile and flags, exported as CSV) and one page per KOL (cost, percentiles, "
        "flags, reads and like_collect by publish date, organic vs cooperation, video vs photo, posting "
        "cadence, top notes, lifecycle against its median note, rising notes, brands, history across "
        "refreshes). Every value escaped by its templates. Opens offline; mail the folder. With "
        "PGY_REPORT_URL=s3://bucket/prefix it is also copied to that bucket after each write."
    ),
    group_name="engagement",
    kinds={"html"},
    owners=["team:analytics"],
    automation_condition=ENGAGEMENT_AUTOMATION,
)
def kol_report(context: dg.AssetExecutionContext, pgy: PgyResource) -> dg.MaterializeResult:
    simulated = pgy.state().holds_simulated_data()
    notice = settings.SIMULATED_NOTICE if simulated else None
    result = write_report(pgy.warehouse(), pgy.reports_dir, notice=notice)
    index = result.index.resolve()
    copied: dict[str, dg.RawMetadataValue] = {}
    try:
        url = settings.report_url()
    except ValueError as exc:  # the setting itself, named, not a stack trace of it
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    if url is not None:  # run workers that share no disk: the folder is gone with the pod
        up = upload_report(result.out_dir, url, settings.s3_config())
        context.log.info(f"report copied to {up.index_url}: {up.objects} object(s), {up.removed} removed")
        copied = {"report_url": up.index_url, "objects_uploaded": up.objects}
    return dg.MaterializeResult(
        metadata={
            **copied,
            "index": dg.MetadataValue.url(index.as_uri()),
            "index_path": dg.MetadataValue.path(str(index)),
            "kol_pages": len(result.kol_pages),
            "kol_pages_written": result.kol_pages_written,  # the others showed nothing new
            "page_processes": result.processes,  # worker processes (0: the pages were few)
            "kols_ranked": result.ranked,
            "notes": result.notes,
            "seconds": result.seconds,
            "simulated_data": simulated,
        }
    )
