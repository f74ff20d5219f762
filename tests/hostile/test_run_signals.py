"""``reprise run`` stopped from outside: SIGTERM reaches the command and the run is KILLED; kill -9 orphans nothing.

Each test starts ``python -m reprise run -- python child.py`` in a real project; the child writes its pid and
sleeps. Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlflow import MlflowClient

CHILD = """\
import os, pathlib, time
pathlib.Path("child.pid").write_text(str(os.getpid()))
time.sleep(120)
"""


def _start(root: Path) -> subprocess.Popen[str]:
    (root / "child.py").write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, "-m", "reprise", "run", "--", sys.executable, "child.py"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _child_pid(root: Path) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = (root / "child.pid").read_text() if (root / "child.pid").exists() else ""
        if text:
            return int(text)
        time.sleep(0.1)
    raise AssertionError("the command never started")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is gone for our purpose.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_sigterm_is_forwarded_and_the_run_is_recorded_killed(tmp_project: Path) -> None:
    process = _start(tmp_project)
    child = _child_pid(tmp_project)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert _gone_within(child, 10)
    client = MlflowClient(f"sqlite:///{tmp_project / '.reprise' / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], "")
    assert [run.info.status for run in runs] == ["KILLED"]
    assert "reprise/record.json" in {a.path for a in client.list_artifacts(runs[0].info.run_id, "reprise")}


def test_kill_9_of_reprise_run_takes_the_command_with_it_and_the_next_run_closes_its_run(tmp_project: Path) -> None:
    process = _start(tmp_project)
    child = _child_pid(tmp_project)
    process.kill()
    process.communicate(timeout=30)
    assert _gone_within(child, 10), "the command outlived `reprise run`"
    client = MlflowClient(f"sqlite:///{tmp_project / '.reprise' / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    (abandoned,) = client.search_runs(experiments, "")
    assert abandoned.info.status == "RUNNING"  # nobody was left to say otherwise
    done = subprocess.run(
        [sys.executable, "-m", "reprise", "run", "--", sys.executable, "-c", "pass"],
        cwd=tmp_project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    closed = client.get_run(abandoned.info.run_id)
    assert closed.info.status == "KILLED"
    assert closed.data.tags["reprise.ended_by"] == "its process was gone (killed outright)"
