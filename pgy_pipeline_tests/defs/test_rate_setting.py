"""The token's rate: bounded where the resource is built, and one setting every path follows.

``PGY_RATE_LIMIT_PER_S`` is read where the run executes; a value given to the resource itself
(definitions.py, or the launchpad's resource config) wins. Each run records the rate its client
allowed itself (tag ``pgy/rate_limit_per_s``). The UI's path is in ``test_e2e_daemon.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from pgy_pipeline.cli import main
from pgy_pipeline.defs.resources import JustOneApiResource
from pgy_pipeline.defs.schedules import build_daily_refresh_schedule
from pgy_pipeline.defs.tags import RATE_TAG
from pgy_pipeline_tests.support import ANCHOR, MakeEnv, instance_at, tick_schedule


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    [
        ("rate_limit_per_s", 0.5, "greater than or equal to 1"),
        ("max_pages", 0, "greater than or equal to 1"),
        ("page_workers", 0, "greater than or equal to 1"),
        ("max_attempts", 0, "greater than or equal to 1"),
        ("read_timeout_s", 0, "greater than 0"),
        ("backoff_max_s", -1, "greater than or equal to 0"),
    ],
)
def test_a_value_out_of_bounds_fails_when_the_resource_is_built_naming_its_field(
    field: str, value: float, bound: str
) -> None:
    with pytest.raises(ValidationError) as err:
        settings: dict[str, Any] = {field: value}
        JustOneApiResource(**settings)
    text = str(err.value)
    assert "JustOneApiResource" in text and f"\n{field}\n" in text and bound in text


def test_the_rate_comes_from_the_resource_else_the_environment_else_20(monkeypatch, make_sim) -> None:
    monkeypatch.delenv("PGY_RATE_LIMIT_PER_S", raising=False)
    assert JustOneApiResource().rate_limit() == 20
    monkeypatch.setenv("PGY_RATE_LIMIT_PER_S", "7.5")
    sim = make_sim()
    with JustOneApiResource(base_url=sim.base_url).open_client() as client:
        assert client.config.rate_limit_per_s == 7.5
    assert JustOneApiResource(rate_limit_per_s=30).rate_limit() == 30
    for bad in ("0.5", "fast", "nan"):
        monkeypatch.setenv("PGY_RATE_LIMIT_PER_S", bad)
        with pytest.raises(ValueError, match="PGY_RATE_LIMIT_PER_S must be"):
            JustOneApiResource().rate_limit()


def test_pgy_refresh_follows_the_setting(tmp_path: Path, monkeypatch, make_sim) -> None:
    sim = make_sim(seed=3, anchor_date=ANCHOR, fixed_counts={"kol_a": 9})
    data = tmp_path / "data"
    data.mkdir()
    (data / "kols.csv").write_text("user_id\nkol_a\n", encoding="utf-8")
    monkeypatch.setenv("PGY_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JUSTONEAPI_BASE_URL", sim.base_url)
    monkeypatch.delenv("JUSTONEAPI_TOKEN", raising=False)
    monkeypatch.setenv("PGY_RATE_LIMIT_PER_S", "250")
    result = CliRunner().invoke(main, ["refresh", "--no-engagement"])
    assert result.exit_code == 0, result.output
    with instance_at(tmp_path / "home") as instance:
        (run,) = instance.get_runs()
        assert run.tags[RATE_TAG] == "250"


def test_the_schedules_runs_follow_the_setting(make_env: MakeEnv, monkeypatch) -> None:
    env = make_env(fixed_counts={"k1": 9}, api={"rate_limit_per_s": None})
    env.add_kols(["k1"])
    (request,) = tick_schedule(build_daily_refresh_schedule(), env).run_requests
    # Where the run executes (the daemon's run worker), not where the schedule was evaluated.
    monkeypatch.setenv("PGY_RATE_LIMIT_PER_S", "300")
    job = env.defs.resolve_job_def("refresh_kols")
    result = job.execute_in_process(
        instance=env.instance, run_config=request.run_config, tags=request.tags, raise_on_error=False
    )
    assert result.success
    assert env.instance.get_run_by_id(result.run_id).tags[RATE_TAG] == "300"


@pytest.mark.parametrize(("field", "value"), [("max_pages", 0), ("rate_limit_per_s", 0.5)])
def test_a_run_launched_with_a_value_out_of_bounds_fails_naming_it_before_any_call(
    make_env, field: str, value: float
) -> None:
    env = make_env(fixed_counts={"k1": 9})
    env.add_kols(["k1"])
    (request,) = tick_schedule(build_daily_refresh_schedule(), env).run_requests
    run_config = {**request.run_config, "resources": {"api": {"config": {field: value}}}}
    result = env.defs.resolve_job_def("refresh_kols").execute_in_process(
        instance=env.instance, run_config=run_config, tags=request.tags, raise_on_error=False
    )
    assert not result.success
    errors = [str(e.event_specific_data.error) for e in result.all_events if e.is_failure]
    assert any(f"JustOneApiResource\n{field}\n" in text for text in errors), errors
    assert env.sim.counters().calls_total == 0
    assert not result.get_step_success_events()
