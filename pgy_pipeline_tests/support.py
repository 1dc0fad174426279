"""Constants and helpers shared by the pipeline tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import dagster as dg
import duckdb

from pgy_pipeline.simulator import Simulator

# A fixed "today" for the simulator's data so expectations never depend on the calendar.
ANCHOR = date(2026, 3, 8)
# Distinctive, so a leak is found by a byte scan of every output and file.
TEST_TOKEN = "tok-PIPELINE-SECRET-4b1d9e"

# What the `make_sim` fixture gives: start a simulator (profile, **Simulator kwargs), stopped after the test.
MakeSim = Callable[..., Simulator]


def expected_frame(sim: Simulator, user_id: str, **filters: str) -> list[tuple[Any, ...]]:
    """The simulator's truth as (note_id, read_num, like_num, collect_num, third_read_user_num) rows."""
    return sorted(
        (n["noteId"], n["readNum"], n["likeNum"], n["collectNum"], n["thirdReadUserNum"])
        for n in sim.expected_notes(user_id, **filters)
    )


def stored_frame(conn: duckdb.DuckDBPyConnection, user_id: str) -> list[tuple[Any, ...]]:
    return sorted(
        conn.execute(
            "SELECT note_id, read_num, like_num, collect_num, third_read_user_num FROM notes "
            "WHERE user_id = ? AND gone_at IS NULL",
            [user_id],
        ).fetchall()
    )


def tick_schedule(schedule: dg.ScheduleDefinition, env: Any) -> Any:
    """One tick of ``schedule`` at 06:00 on a fixed day, on a PipelineEnv's instance and resources."""
    # A schedule context opens its own instance from the ref; `with` closes it, or Dagster's
    # context-wide state storage would keep pointing at it after this test.
    when = datetime(2026, 11, 26, 6)
    with dg.build_schedule_context(
        instance=env.instance, scheduled_execution_time=when, resources={"pgy": env.pgy}
    ) as ctx:
        return schedule.evaluate_tick(ctx)


@contextlib.contextmanager
def instance_at(home: str | os.PathLike[str]) -> Iterator[dg.DagsterInstance]:
    """The Dagster instance of ``home`` as a Dagster process opens it: with DAGSTER_HOME set, which
    the storage pgy configures follows (cli/runner.py writes ``base_dir: {env: DAGSTER_HOME}``)."""
    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance
    finally:
        if before is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = before
