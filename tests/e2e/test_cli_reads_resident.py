"""``reprise runs`` and ``reprise registry list`` read through the resident process: no MLflow in the CLI, same output.

Each test drives ``python -m reprise`` in a real project, once served by a resident and once with
``REPRISE_RESIDENT=0``, and compares what a user sees. Residents live in a private ``TMPDIR`` of the test and are
stopped at teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from mlflow import MlflowClient

from reprise.config import load_settings

if TYPE_CHECKING:
    from collections.abc import Iterator

HEAVY = ("mlflow", "sqlalchemy", "numpy", "pandas", "sklearn", "dvc")

#: The CLI in this process, then the heavy libraries it loaded, on stderr's last line.
_PROBE = """
import sys
from reprise.cli.main import main
try:
    main(sys.argv[1:])
finally:
    print("HEAVY=" + ",".join(sorted(name for name in {heavy!r} if name in sys.modules)), file=sys.stderr)
"""


@pytest.fixture
def resident_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private TMPDIR for the residents the test starts (short: a socket path holds 107 bytes); stops them after."""
    home = Path(tempfile.mkdtemp(prefix="rr-", dir="/tmp"))
    monkeypatch.setenv("TMPDIR", str(home))
    yield home
    for path in home.glob("reprise-*/*.sock"):
        pid = _peer(path)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            _wait(lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid))
    shutil.rmtree(home, ignore_errors=True)


def _peer(path: Path) -> int | None:
    """The pid of the resident listening on ``path``, None when none does."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return None
        pid, _uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return int(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def _wait(done: Any, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.1)
    return False


def _cli(root: Path, *args: str, resident: bool = True) -> tuple[Any, str]:
    """Run ``reprise ARGS --json``; its parsed output, and the heavy libraries the CLI process loaded."""
    env = dict(os.environ) if resident else {**os.environ, "REPRISE_RESIDENT": "0"}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args, "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    heavy = result.stderr.strip().splitlines()[-1].removeprefix("HEAVY=")
    return json.loads(result.stdout), heavy


def _capture(root: Path) -> None:
    """``reprise run -- python -c pass``, which starts a resident and waits for it."""
    result = subprocess.run(
        [sys.executable, "-m", "reprise", "run", "--", sys.executable, "-c", "pass"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_runs_read_through_the_resident_equal_runs_read_in_process(resident_home: Path, tmp_project: Path) -> None:
    _capture(tmp_project)
    _capture(tmp_project)

    served, heavy = _cli(tmp_project, "runs")
    local, local_heavy = _cli(tmp_project, "runs", resident=False)

    assert heavy == ""
    assert "mlflow" in local_heavy
    assert len(served) == 2
    assert served == local


def test_a_registered_model_is_listed_the_same_through_the_resident(resident_home: Path, tmp_project: Path) -> None:
    _capture(tmp_project)
    client = MlflowClient(load_settings(tmp_project).tracking_uri)
    run_id = client.search_runs([e.experiment_id for e in client.search_experiments()])[0].info.run_id
    client.create_registered_model("churn", description="churn model")
    client.create_model_version("churn", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("churn", "production", "1")

    served, heavy = _cli(tmp_project, "registry", "list")
    local, _ = _cli(tmp_project, "registry", "list", resident=False)

    assert heavy == ""
    assert served == local
    assert served == [
        {
            "name": "churn",
            "versions": 1,
            "latest_version": 1,
            "aliases": {"production": 1},
            "description": "churn model",
        }
    ]


def test_a_read_with_no_resident_is_done_in_process_and_starts_one_for_the_next(
    resident_home: Path, tmp_project: Path
) -> None:
    _capture(tmp_project)
    local, _ = _cli(tmp_project, "runs", resident=False)
    pids = [_peer(path) for path in resident_home.glob("reprise-*/*.sock")]
    assert pids
    assert all(pids)
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    assert _wait(lambda: not any(_peer(path) for path in resident_home.glob("reprise-*/*.sock")))

    first, first_heavy = _cli(tmp_project, "runs")
    assert _wait(lambda: any(_peer(path) for path in resident_home.glob("reprise-*/*.sock")))
    later, later_heavy = _cli(tmp_project, "runs")

    assert "mlflow" in first_heavy
    assert later_heavy == ""
    assert first == later == local


def test_an_unknown_experiment_fails_the_same_through_the_resident(resident_home: Path, tmp_project: Path) -> None:
    _capture(tmp_project)
    results = [
        subprocess.run(
            [sys.executable, "-m", "reprise", "runs", "-e", "nope"],
            cwd=tmp_project,
            capture_output=True,
            text=True,
            env={**os.environ, "REPRISE_RESIDENT": flag},
            timeout=180,
            check=False,
        )
        for flag in ("1", "0")
    ]

    assert results[0].returncode == results[1].returncode != 0
    assert results[0].stderr == results[1].stderr
    assert "no experiment 'nope'" in results[0].stderr
