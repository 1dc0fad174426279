"""The dagster.yaml `pgy` writes for an instance it creates (DAGSTER_HOME), and its one upgrade.

A data dir's instance is created by the first `pgy` command or `make run`. The file is the user's
to edit afterwards; `pgy` only ever adds the storage block an older `pgy` did not write (the
batched event log, issue 20), and only to a file it wrote itself and that names no storage.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

HEADER = "# Written by pgy-pipeline when it first used this instance; edit freely.\n"
STORAGE_COMMENT = """\
# Dagster's default SQLite storage (same files under DAGSTER_HOME), with an event log that writes
# a batch of materialisations in one transaction: a refresh's per-KOL events keep pace with the
# fetch (README, "When a run fails"). On PostgreSQL (deploy/dagster.yaml) Dagster batches them.
"""
BODY = """\
telemetry:
  enabled: false
{storage}concurrency:
  runs:
    max_concurrent_runs: 4
  pools:
    # One step at a time calls Just One API: the rate limiter is per process, so one
    # slot keeps the whole instance under the token's requests/second (README, "Sizing").
    default_limit: 1
"""
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")


def sqlite_storage(base_dir: str | dict[str, str]) -> dict[str, object]:
    """The instance storage pgy configures (``base_dir``: a path, or ``{"env": VAR}``)."""
    return {
        "custom": {
            "module": "pgy_pipeline.defs.dagster_private",
            "class": "SqliteStorageWithBatches",
            "config": {"base_dir": base_dir},
        }
    }


def _storage_block() -> str:
    storage = {"storage": sqlite_storage({"env": "DAGSTER_HOME"})}
    return STORAGE_COMMENT + yaml.safe_dump(storage, sort_keys=False)


def dagster_yaml() -> str:
    return HEADER + BODY.format(storage=_storage_block())


def write_or_upgrade(cfg: Path) -> None:
    """Write ``cfg`` if missing; add the storage block to one an older `pgy` wrote without it."""
    if not cfg.exists():
        _write(cfg, dagster_yaml())
        return
    text = cfg.read_text(encoding="utf-8")
    if not text.startswith(HEADER):
        return  # not ours (deploy/dagster.yaml, a hand-written one): never touched
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return  # Dagster will name the error when it reads the file
    if isinstance(config, dict) and not any(k in config for k in STORAGE_KEYS):
        _write(cfg, text.rstrip("\n") + "\n" + _storage_block())


def _write(cfg: Path, text: str) -> None:
    tmp = cfg.with_name(f".{cfg.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, cfg)
