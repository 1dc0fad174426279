"""The report in a bucket (``PGY_REPORT_URL=s3://bucket/prefix``): for run workers that share no disk.

A run worker in its own pod writes the report to a folder that is gone when the pod ends. With a
report URL set, the folder is copied to the bucket after each write: every page, then
``index.html`` last (a reader who opens it finds the pages it links to), then the objects of an
earlier report that this one no longer has are deleted (a KOL taken off the roster). Each object
carries its content type, so a bucket served as a static site (or a presigned link) shows the page.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from pgy_pipeline.s3 import S3Config, split_s3_url

INDEX = "index.html"


@dataclass(frozen=True, slots=True)
class Uploaded:
    index_url: str  # s3://bucket/prefix/index.html
    objects: int  # written
    removed: int  # of an earlier report, no longer in this one


def _files(folder: Path) -> dict[str, Path]:
    """Every file of the report by its key under the prefix; partial writes (dotfiles) left out."""
    return {
        p.relative_to(folder).as_posix(): p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def upload_report(folder: Path, url: str, s3: S3Config) -> Uploaded:
    """Copy the report under ``folder`` to ``url`` (``s3://bucket/prefix``), index last."""
    import obstore  # here: only bucket deployments load it

    bucket, prefix = split_s3_url(url)
    store = s3.store(bucket, prefix)
    files = _files(folder)
    if INDEX not in files:
        raise FileNotFoundError(f"no {INDEX} under {folder}: write the report first")
    before = {meta["path"] for chunk in obstore.list(store) for meta in chunk}
    for key in [k for k in files if k != INDEX] + [INDEX]:
        kind = mimetypes.guess_type(key)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind == "application/javascript":
            kind += "; charset=utf-8"
        obstore.put(store, key, files[key].read_bytes(), attributes={"Content-Type": kind})
    stale = sorted(before - files.keys())
    if stale:
        obstore.delete(store, stale)
    base = f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/"
    return Uploaded(index_url=base + INDEX, objects=len(files), removed=len(stale))
