"""DuckLake's upkeep (warehouse/lake_upkeep.py, the `lake_upkeep` job, `pgy warehouse upkeep`):
fewer files and snapshots, every row as it was, the lake still written and read as before."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from pgy_pipeline.cli import main
from pgy_pipeline.defs.upkeep import UPKEEP_JOB_NAME
from pgy_pipeline.warehouse.lake_upkeep import upkeep
from pgy_pipeline_tests.support import MakeEnv, PipelineEnv, expected_frame, stored_frame

KOLS = ["kol_a", "kol_b"]
TABLES = ("kols", "fetches", "notes", "note_snapshots", "fetch_totals", "api_calls", "kol_engagement")


@pytest.fixture
def lake_env(make_env: MakeEnv, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PipelineEnv:
    monkeypatch.setenv("PGY_WAREHOUSE_URL", f"ducklake:sqlite:{tmp_path / 'catalog.sqlite'}")
    monkeypatch.setenv("PGY_LAKE_DATA_PATH", f"{tmp_path / 'lake'}/")
    return make_env(fixed_counts={"kol_a": 20, "kol_b": 9})


def _rows(env: PipelineEnv) -> dict[str, list[tuple[object, ...]]]:
    with env.db() as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}


def _snapshots(env: PipelineEnv) -> int:
    with env.db() as conn:
        row = conn.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()
    return int(row[0]) if row else 0


def _upkeep(env: PipelineEnv, **config: int) -> dg.ExecuteInProcessResult:
    job = env.defs.get_job_def(UPKEEP_JOB_NAME)
    return job.execute_in_process(
        instance=env.instance, run_config={"ops": {"upkeep_the_lake": {"config": config}}}
    )


def test_the_upkeep_leaves_fewer_files_and_snapshots_and_every_row(
    lake_env: PipelineEnv, tmp_path: Path
) -> None:
    for _ in range(3):
        assert all(r.success for r in lake_env.refresh(KOLS, {"force": True}))
        assert lake_env.engagement().success
    before, files, snapshots = (
        _rows(lake_env),
        list((tmp_path / "lake").rglob("*.parquet")),
        _snapshots(lake_env),
    )

    first = _upkeep(lake_env, keep_days=0, grace_hours=0)
    _upkeep(lake_env, keep_days=0, grace_hours=0)  # deletes what the first one freed

    outputs = [e for e in first.all_events if e.is_successful_output]
    meta = {k: v.value for k, v in outputs[0].step_output_data.metadata.items()}
    assert int(str(meta["snapshots_expired"])) >= snapshots - 2 and int(str(meta["files_merged"])) > 0
    assert _rows(lake_env) == before
    # Every table's files merged into one at most, the others deleted.
    after = list((tmp_path / "lake").rglob("*.parquet"))
    tables = {f.parent for f in files}
    assert len(files) > len(tables) and len(after) <= len(tables)
    assert len({f.parent for f in after}) == len(after)
    assert _snapshots(lake_env) < snapshots / 4
    # The lake is written and read as before.
    assert all(r.success for r in lake_env.refresh(KOLS, {"force": True}))
    with lake_env.db() as conn:
        for kol in KOLS:
            assert stored_frame(conn, kol) == expected_frame(lake_env.sim, kol)


def test_recent_snapshots_and_files_are_kept(lake_env: PipelineEnv, tmp_path: Path) -> None:
    assert all(r.success for r in lake_env.refresh(KOLS))
    snapshots = _snapshots(lake_env)

    assert _upkeep(lake_env).success  # 7 days of time travel, files deleted after 24 h
    assert _snapshots(lake_env) >= snapshots  # the upkeep's own commits come on top


def test_the_command_says_what_it_did(lake_env: PipelineEnv) -> None:
    assert all(r.success for r in lake_env.refresh(KOLS))

    out = CliRunner().invoke(main, ["warehouse", "upkeep", "--keep-days", "0", "--grace-hours", "0"])

    assert out.exit_code == 0, out.output
    assert "DuckLake (sqlite catalog" in out.output and "snapshot(s) expired" in out.output


def test_the_duckdb_file_needs_no_upkeep(make_env: MakeEnv) -> None:
    env = make_env(fixed_counts={"kol_a": 3})
    assert all(r.success for r in env.refresh(["kol_a"]))

    assert _upkeep(env).success
    out = CliRunner().invoke(main, ["warehouse", "upkeep"])
    assert out.exit_code == 0 and "nothing to do" in out.output


def test_negative_retention_is_refused() -> None:
    with pytest.raises(ValueError, match="keep_days and grace_hours must be >= 0"):
        upkeep(None, "lake", -1, 0)  # type: ignore[arg-type]
