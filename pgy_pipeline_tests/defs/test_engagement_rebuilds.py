"""An engagement run after a refresh of one KOL rebuilds that KOL's row of kol_engagement only,
says so in its metadata, and leaves the table a full rebuild would write."""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb

from pgy_pipeline import settings
from pgy_pipeline.warehouse import engagement_inputs
from pgy_pipeline.warehouse.engagement import build_kol_engagement
from pgy_pipeline.warehouse.engagement_settings import EngagementSettings
from pgy_pipeline_tests.support import MakeEnv, PipelineEnv


def _rebuilt(env: PipelineEnv) -> int:
    event = env.instance.get_latest_materialization_event(dg.AssetKey("kol_engagement"))
    assert event is not None and event.asset_materialization is not None
    return int(event.asset_materialization.metadata["kol_engagement_rows_rebuilt"].value)  # type: ignore[arg-type]


def _table(conn: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return conn.execute("SELECT * FROM kol_engagement ORDER BY user_id").fetchall()


def test_an_engagement_run_rebuilds_the_rows_of_the_kols_refreshed(make_env: MakeEnv) -> None:
    env = make_env(fixed_counts={"kol_forty": 40, "kol_nine": 9, "kol_twelve": 12})
    env.refresh(["kol_forty", "kol_nine", "kol_twelve"])
    assert env.engagement().success and _rebuilt(env) == 3
    assert env.engagement().success and _rebuilt(env) == 0
    with env.db() as conn:
        before = _table(conn)

    assert env.refresh(["kol_nine"], {"force": True})[0].success
    assert env.engagement().success and _rebuilt(env) == 1
    with env.db() as conn:
        after = _table(conn)
    assert [r for r in after if r[0] != "kol_nine"] == [r for r in before if r[0] != "kol_nine"]
    assert [r for r in after if r[0] == "kol_nine"] != [r for r in before if r[0] == "kol_nine"]

    # The same table as a full rebuild (on a copy: the published snapshot is read-only).
    copy = env.data_dir / "copy.duckdb"
    shutil.copyfile(env.data_dir / "pgy.duckdb", copy)
    with duckdb.connect(str(copy)) as conn:
        conn.execute(f"DROP TABLE {engagement_inputs.TABLE}")
        assert build_kol_engagement(conn, settings.today(), EngagementSettings()) == 3
        assert _table(conn) == after
