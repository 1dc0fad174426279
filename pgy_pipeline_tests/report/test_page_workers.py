"""Many changed KOL pages are rendered and written by worker processes (report/kol_pages.py):
at 10,000 new one-page KOLs rendering was ~3/4 of the report, and it holds the GIL."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from pgy_pipeline.report import kol_pages, write_report
from pgy_pipeline.report.kol_pages import Page, PageWriter
from pgy_pipeline_tests.report.conftest import KOLS, A, C, build_warehouse
from pgy_pipeline_tests.support import MakeEnv


@pytest.fixture
def own_warehouse(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "pgy.duckdb")


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_pages_written_by_workers_are_the_pages_written_here(
    own_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = write_report(own_warehouse, tmp_path / "here", compare=[A, C], processes=1)
    monkeypatch.setattr(kol_pages, "POOL_FROM", 1)
    monkeypatch.setattr(kol_pages, "PAGES_PER_TASK", 1)  # every page its own task, both workers busy
    pooled = write_report(own_warehouse, tmp_path / "pooled", compare=[A, C], processes=2)

    assert here.processes == 0 and pooled.processes == 2
    assert pooled.kol_pages_written == here.kol_pages_written == len(KOLS)
    assert _files(tmp_path / "pooled") == _files(tmp_path / "here")
    assert not [p for p in (tmp_path / "pooled").rglob("*") if p.name.endswith(".tmp")]


def test_few_changed_pages_start_no_worker(own_warehouse: Path, tmp_path: Path) -> None:
    result = write_report(own_warehouse, tmp_path / "out", processes=2)  # 4 pages, far below POOL_FROM

    assert result.processes == 0 and result.kol_pages_written == len(KOLS)


def test_a_page_that_fails_in_a_worker_fails_the_report_with_the_workers_error(tmp_path: Path) -> None:
    bad = Page(str(tmp_path / "never.html"), None, pickle.dumps(("not a page source",)), None)
    failing = pytest.raises(RuntimeError, match=r"(?s)report worker process failed.*AttributeError")
    with failing, PageWriter(processes=2, pool_from=1) as writer:
        writer.write([bad])

    assert not list(tmp_path.iterdir())


def test_the_workers_get_no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSTONEAPI_TOKEN", "tok-must-not-travel")
    with PageWriter(processes=2, pool_from=0) as writer:
        writer.write([])  # starts the workers, gives them nothing
        environs = [Path(f"/proc/{w.process.pid}/environ").read_bytes() for w in writer._workers]

    assert len(environs) == 2 and all(b"PYTHONPATH=" in e for e in environs)
    assert not [e for e in environs if b"tok-must-not-travel" in e or b"JUSTONEAPI_TOKEN" in e]


def test_a_script_without_a_main_guard_runs_once(own_warehouse: Path, tmp_path: Path) -> None:
    # multiprocessing's spawn would run this script again in every worker (and fail to start them).
    runs = tmp_path / "runs.txt"
    script = tmp_path / "report_script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from pgy_pipeline.report import kol_pages, write_report
            with open({str(runs)!r}, "a") as fh:
                fh.write("ran\\n")
            kol_pages.POOL_FROM = 1
            result = write_report({str(own_warehouse)!r}, {str(tmp_path / "out")!r}, processes=2)
            print(result.processes, result.kol_pages_written)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", str(len(KOLS))]
    assert runs.read_text() == "ran\n"


def test_the_report_asset_writes_pages_through_workers(
    make_env: MakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kol_pages, "POOL_FROM", 1)
    env = make_env(fixed_counts={"kol_a": 3, "kol_b": 25, "kol_c": 0})
    env.refresh(["kol_a", "kol_b", "kol_c"])

    assert env.engagement().success
    event = env.instance.get_latest_materialization_event(dg.AssetKey("kol_report"))
    assert event is not None and event.asset_materialization is not None
    meta = event.asset_materialization.metadata
    workers = kol_pages.default_processes()
    assert meta["page_processes"].value == (workers if workers > 1 else 0)
    assert meta["kol_pages_written"].value == 3
    pages = sorted(p.name for p in (env.data_dir / "reports" / "kol").glob("*.html"))
    assert pages == ["kol_a.html", "kol_b.html", "kol_c.html"]


def test_without_cpu_affinity_the_machines_cpus_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")  # as on macOS
    monkeypatch.setattr(os, "cpu_count", lambda: 16)

    assert kol_pages.default_processes() == kol_pages.PROCESSES_MAX
