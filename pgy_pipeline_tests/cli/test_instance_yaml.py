"""The dagster.yaml `pgy` writes, and the one upgrade it makes to a file an older `pgy` wrote."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from pgy_pipeline.cli.instance_yaml import HEADER, dagster_yaml, write_or_upgrade
from pgy_pipeline.defs import dagster_private

# What `pgy` wrote before issue 20 (no storage block): kept as it was, to upgrade.
OLD = HEADER + "telemetry:\n  enabled: false\nconcurrency:\n  runs:\n    max_concurrent_runs: 4\n"


def test_a_new_instance_gets_the_batched_sqlite_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_or_upgrade(tmp_path / "dagster.yaml")
    assert (tmp_path / "dagster.yaml").read_text(encoding="utf-8") == dagster_yaml()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.event_log_storage, dagster_private._SqliteEventLogWithBatches)
        assert instance.get_runs() == []
    assert (tmp_path / "history" / "runs").is_dir()  # Dagster's default layout, same files


def test_a_file_an_older_pgy_wrote_gains_the_storage_block_and_keeps_its_edits(tmp_path: Path) -> None:
    cfg = tmp_path / "dagster.yaml"
    cfg.write_text(OLD.replace("max_concurrent_runs: 4", "max_concurrent_runs: 9"), encoding="utf-8")
    write_or_upgrade(cfg)
    config = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    assert config["storage"]["custom"]["class"] == "SqliteStorageWithBatches"
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 9
    before = cfg.read_text(encoding="utf-8")
    write_or_upgrade(cfg)  # once only
    assert cfg.read_text(encoding="utf-8") == before


@pytest.mark.parametrize(
    "text",
    [
        OLD + "storage:\n  sqlite:\n    base_dir: /somewhere\n",  # the user chose a storage
        "storage:\n  postgres:\n    postgres_url: postgresql://h/db\n",  # not written by pgy
        HEADER + "telemetry: [unclosed\n",  # broken: Dagster names the error, pgy leaves it
    ],
)
def test_a_file_that_names_its_storage_or_is_not_pgys_is_never_touched(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "dagster.yaml"
    cfg.write_text(text, encoding="utf-8")
    write_or_upgrade(cfg)
    assert cfg.read_text(encoding="utf-8") == text
