"""Lake upkeep: the maintenance DuckLake leaves to the lake's owner, in one call.

Every commit of a run (a write batch of a few KOLs) is a DuckLake snapshot that writes small
Parquet files, and an update of ``notes`` keeps the rows it replaced for time travel. Left alone, a
lake a year old holds tens of thousands of small files and every version of every note: each read
lists and opens more files (on S3, a request each) and the bucket only grows. ``upkeep`` runs the
steps of DuckLake's CHECKPOINT, in its order, with the pipeline's retention rather than options
stored in the lake:

1. expire the snapshots older than ``keep_days``: time travel reaches back that far, no further;
2. merge adjacent small files of each table;
3. rewrite the files most of whose rows are deleted;
4. delete the files scheduled for deletion more than ``grace_hours`` ago, and orphaned files as old
   (left by a writer that died before its commit). A read that began before a file was scheduled
   never loses it: no read lasts that long. The files steps 1-3 free are deleted by the next upkeep.

It runs under the writer lock (LakeWarehouse.upkeep): no run writes meanwhile, runs wait for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the `pgy` command imports this module for its defaults, and DuckDB only when it runs
    import duckdb


# The defaults of the weekly job and of `pgy warehouse upkeep`, with what each means.
KEEP_DAYS = 7
KEEP_DAYS_HELP = "Snapshots younger than this many days stay for time travel; older ones are expired."
GRACE_HOURS = 24
GRACE_HOURS_HELP = (
    "Files no snapshot needs are deleted once they have waited this many hours (no read lasts longer)."
)


@dataclass(frozen=True)
class UpkeepResult:
    snapshots_expired: int
    files_merged: int  # files merged into fewer, larger ones
    files_rewritten: int  # files rewritten without their deleted rows
    files_deleted: int  # files removed from storage (scheduled long enough ago, or orphaned)
    seconds: float

    def summary(self) -> str:
        return (
            f"{self.snapshots_expired} snapshot(s) expired, {self.files_merged} file(s) merged, "
            f"{self.files_rewritten} rewritten, {self.files_deleted} deleted from storage "
            f"in {self.seconds:.1f} s"
        )


def upkeep(conn: duckdb.DuckDBPyConnection, lake: str, keep_days: int, grace_hours: int) -> UpkeepResult:
    """Run the upkeep on the lake attached to ``conn`` as ``lake`` (outside a transaction)."""
    if keep_days < 0 or grace_hours < 0:
        raise ValueError(f"keep_days and grace_hours must be >= 0, got {keep_days} and {grace_hours}")
    started = time.monotonic()
    kept = f"now() - INTERVAL '{int(keep_days)} days'"
    grace = f"now() - INTERVAL '{int(grace_hours)} hours'"
    expired = conn.execute(f"CALL ducklake_expire_snapshots('{lake}', older_than => {kept})").fetchall()
    # (schema, table, files processed, files created) per table
    merged = conn.execute(f"CALL ducklake_merge_adjacent_files('{lake}')").fetchall()
    rewritten = conn.execute(f"CALL ducklake_rewrite_data_files('{lake}')").fetchall()
    deleted = conn.execute(f"CALL ducklake_cleanup_old_files('{lake}', older_than => {grace})").fetchall()
    orphans = conn.execute(f"CALL ducklake_delete_orphaned_files('{lake}', older_than => {grace})").fetchall()
    return UpkeepResult(
        snapshots_expired=len(expired),
        files_merged=sum(int(r[2]) for r in merged),
        files_rewritten=sum(int(r[2]) for r in rewritten),
        files_deleted=len(deleted) + len(orphans),
        seconds=round(time.monotonic() - started, 3),
    )
