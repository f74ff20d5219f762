"""Batch verification on real Dask worker processes: one verdict per target, the same with 1 and 2 workers, and the
same when a worker is killed mid-task (its task is run again elsewhere).

The project (real git, DVC and SQLite MLflow store) holds two captured runs: a seeded one (identical when re-run)
and an unseeded one (different), plus a run id that does not exist (failed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reprise.config import load_settings
from reprise.team.batch import verify_batch

SEEDED = """\
import numpy as np
import reprise

with reprise.start_run(params={"n": 200}) as run:
    values = np.random.default_rng(run.seeds.seed).normal(size=200)
    run.log_metrics({"mean": float(values.mean())})
"""
UNSEEDED = SEEDED.replace("run.seeds.seed", "")


def _capture(root: Path, script: str, seed: str) -> str:
    env = {**os.environ, "REPRISE_SEED": seed, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    before = set(_run_ids(root))
    done = subprocess.run(
        ["python", script], cwd=root, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (new,) = set(_run_ids(root)) - before
    return new


def _run_ids(root: Path) -> list[str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=load_settings(root).tracking_uri)
    return [run.info.run_id for run in client.search_runs([e.experiment_id for e in client.search_experiments()])]


@pytest.fixture
def targets(tmp_project: Path) -> list[str]:
    (tmp_project / "seeded.py").write_text(SEEDED)
    (tmp_project / "unseeded.py").write_text(UNSEEDED)
    subprocess.run(["git", "add", "seeded.py", "unseeded.py"], cwd=tmp_project, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "scripts"], cwd=tmp_project, check=True)
    return [_capture(tmp_project, "seeded.py", "1"), _capture(tmp_project, "unseeded.py", "2"), "0" * 32]


def _kill_a_busy_worker(client: Any, killed: list[int]) -> None:
    """Once a task is running, SIGKILL the worker process running it (its nanny starts a new one)."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        busy = [address for address, keys in client.processing().items() if keys]
        if busy:
            time.sleep(1.0)  # well into the reproduction, not before it
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(pids[busy[0]])
            return
        time.sleep(0.1)
    raise AssertionError("no task started within 120 s")


def test_a_batch_gives_the_same_verdicts_on_1_worker_and_on_2_with_one_killed_mid_way(
    tmp_project: Path, targets: list[str]
) -> None:
    settings = load_settings(tmp_project)
    one = verify_batch(targets, settings=settings, workers=1, in_place=True)
    assert [item.verdict for item in one.verdicts] == ["identical", "different", "failed"]
    assert one.summary == {"different": 1, "failed": 1, "identical": 1}
    assert "no run" in one.verdicts[2].summary
    assert one.workers == 1

    killed: list[int] = []
    two = verify_batch(
        targets, settings=settings, workers=2, in_place=True, on_submit=lambda c: _kill_a_busy_worker(c, killed)
    )
    assert two.workers == 2
    assert [(item.target, item.verdict) for item in two.verdicts] == [
        (item.target, item.verdict) for item in one.verdicts
    ]
    # Real worker processes, none of them this one; the killed one's task was finished by another.
    pids = {int(item.worker.rpartition(":")[2]) for item in two.verdicts}
    assert len(killed) == 1
    assert os.getpid() not in pids
    assert killed[0] not in pids


def test_the_verify_command_reports_a_failed_verdict_per_unknown_run_and_exits_1(tmp_project: Path) -> None:
    import json

    done = subprocess.run(
        [sys.executable, "-m", "reprise", "team", "verify", "1" * 32, "2" * 32, "--workers", "1", "--json"],
        cwd=tmp_project,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["summary"] == {"failed": 2}
    assert [item["target"] for item in report["verdicts"]] == ["1" * 32, "2" * 32]
    assert "Traceback" not in done.stderr
