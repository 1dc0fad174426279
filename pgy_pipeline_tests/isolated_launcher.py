"""A run launcher that starts each run as a cluster would: its own process, its own empty disk.

What ``K8sRunLauncher`` and ``DockerRunLauncher`` do, without a cluster: each run is a new
``dagster api execute_run`` process (the image's entry point) started in a new, empty working
directory that is also its ``PGY_DATA_DIR``, with a ``DAGSTER_HOME`` of its own that holds only
``dagster.yaml`` (the ConfigMap a pod mounts). Nothing on local disk is shared between runs or
with the daemon: what they share goes through PostgreSQL and the S3-compatible bucket, as on
separate hosts. The test (test_multi_worker.py) asserts the working directories stay empty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import Field, StringSource
from dagster._core.launcher import LaunchRunContext, RunLauncher
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClass, ConfigurableClassData


class IsolatedProcessRunLauncher(RunLauncher, ConfigurableClass):
    def __init__(self, work_root: str, instance_yaml: str, inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        self._work_root = Path(work_root)
        self._instance_yaml = Path(instance_yaml)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"work_root": Field(StringSource), "instance_yaml": Field(StringSource)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> Any:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        self._work_root.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"run-{run.run_id[:8]}-", dir=self._work_root))
        home = Path(tempfile.mkdtemp(prefix=f"home-{run.run_id[:8]}-", dir=self._work_root))
        shutil.copy(self._instance_yaml, home / "dagster.yaml")
        args = ExecuteRunArgs(
            job_origin=run.job_code_origin,  # type: ignore[arg-type]
            run_id=run.run_id,
            instance_ref=None,  # the run opens the instance from its own DAGSTER_HOME
            set_exit_code_on_failure=True,
        ).get_command_args()
        env = os.environ | {"DAGSTER_HOME": str(home), "PGY_DATA_DIR": str(workdir)}
        cmd = [sys.executable, "-m", "dagster", *args[args.index("api") :]]
        self._procs[run.run_id] = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def terminate(self, run_id: str) -> bool:
        proc = self._procs.get(run_id)
        if proc is None or proc.poll() is not None:
            return False
        proc.terminate()
        return True

    def dispose(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.terminate()
