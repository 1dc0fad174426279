"""`make ui`: run `dagster dev` (webserver + daemon) so that Ctrl-C and SIGTERM stop it cleanly.

A process started from a non-interactive shell inherits SIGINT as ignored, and Python
then never installs its KeyboardInterrupt handler: `dagster dev` would ignore Ctrl-C
and SIGTERM. We restore default dispositions in the child and forward signals to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pgy_pipeline.cli.runner import get_instance


def _reset_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def dagster_dev_command(host: str, port: int) -> list[str]:
    exe = Path(sys.executable).with_name("dagster")
    return [str(exe), "dev", "-w", "workspace.yaml", "-h", host, "-p", str(port)]


def run_dagster_dev(host: str, port: int) -> int:
    # Creates the instance's storage under the lock a concurrent `pgy refresh` also takes.
    get_instance().dispose()
    proc = subprocess.Popen(dagster_dev_command(host, port), preexec_fn=_reset_signals, env=dict(os.environ))

    def forward(signum: int, _frame: object) -> None:
        # dagster dev shuts its webserver and daemon down on SIGINT.
        proc.send_signal(signal.SIGINT)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
