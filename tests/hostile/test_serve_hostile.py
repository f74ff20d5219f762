"""``reprise serve`` against a booby-trapped model and a killed parent.

The model is a cloudpickled ``python_function`` model whose unpickling writes a marker file (what ``os.system``
would do in a real attack): ``serve`` must refuse it before loading anything, and serve it only with
``--allow-pickle``. Then the parent of ``serve --workers 2`` is killed with SIGKILL: its workers must go with it and
leave the port free for a restart. Servers bind 127.0.0.1 on a free port; every wait is bounded; whatever is still
running at the end is killed by PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd
import pytest

if TYPE_CHECKING:
    from conftest import Cli

MODEL = "trapped"


@dataclass(frozen=True)
class Trap:
    root: Path
    marker: Path


def _booby_trapped(marker: Path) -> Any:
    """A pyfunc model that, when unpickled, writes ``marker``; defined here so cloudpickle stores it by value."""
    import mlflow.pyfunc

    class Trapped(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def __init__(self, path: str) -> None:
            self.path = path

        def __setstate__(self, state: dict[str, Any]) -> None:
            self.__dict__.update(state)
            Path(state["path"]).write_text("ran at load\n")  # an attacker would run anything here

        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.Series:
            return model_input["x"] * 2

    return Trapped(str(marker))


@pytest.fixture
def trap(tmp_path: Path, mlflow_db_template: Path) -> Trap:
    """A project whose registry holds the booby-trapped model as ``trapped@champion``."""
    import mlflow.pyfunc
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    root = tmp_path / "project"
    (root / ".reprise").mkdir(parents=True)
    (root / "reprise.toml").write_text("")
    shutil.copyfile(mlflow_db_template, root / ".reprise" / "mlflow.db")
    marker = tmp_path / "pwned"
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    saved = tmp_path / "model"
    with warnings.catch_warnings():  # MLflow's advice on type hints and on pickling (the point of this model)
        warnings.simplefilter("ignore", UserWarning)
        mlflow.pyfunc.save_model(
            saved,
            python_model=_booby_trapped(marker),
            signature=infer_signature(frame, frame["x"] * 2),
            input_example=frame.head(1),
            pip_requirements=["mlflow"],
        )
    assert (saved / "python_model.pkl").exists()
    marker.unlink(missing_ok=True)  # saving may have loaded it back once: only serving counts
    from reprise.config import load_settings

    client = MlflowClient(tracking_uri=load_settings(root, environ={}).tracking_uri)
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, saved.as_uri())
    client.set_registered_model_alias(MODEL, "champion", "1")
    return Trap(root, marker)


def test_serve_refuses_a_pickled_model_before_loading_it(cli: Cli, trap: Trap) -> None:
    # One worker: the app is built inside uvicorn. (--workers N checks with the same function before starting them.)
    result = cli("serve", f"{MODEL}@champion", "--port", str(_free_port()), cwd=trap.root)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1, result.stderr
    assert len(errors) == 1, result.stderr
    assert "hint:" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    [error] = errors
    assert f"{MODEL} v1" in error
    assert "cloudpickle" in error
    assert "--allow-pickle" in error
    assert not trap.marker.exists(), "the model was unpickled although serve refused it"


def test_with_allow_pickle_it_serves_and_its_workers_die_with_a_killed_parent(trap: Trap) -> None:
    port = _free_port()
    argv = [sys.executable, "-m", "reprise", "serve", f"{MODEL}@champion", "--allow-pickle"]
    argv += ["--workers", "2", "--port", str(port), "--reload-interval", "0"]
    log = trap.root / "serve.log"
    with _killed_at_exit() as started, log.open("wb") as out:
        parent = subprocess.Popen(argv, cwd=trap.root, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
        started.append(parent)
        url = f"http://127.0.0.1:{port}"
        _wait_until(lambda: _healthy(url), 120, f"no worker answered /health in time:\n{_tail(log)}", parent)
        answer = httpx.post(f"{url}/predict", json={"x": 2.0}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["prediction"] == 4.0
        assert trap.marker.exists()  # --allow-pickle: the user said they trust it, and it loaded
        children = _children(parent.pid)
        started.extend(children)
        workers = [pid for pid in children if "multiprocessing.spawn" in _cmdline(pid)]
        assert len(workers) >= 2, (children, [_cmdline(pid) for pid in children])

        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        _wait_until(lambda: not any(_alive(pid) for pid in children), 10, f"orphans still running: {children}")
        _wait_until(lambda: _port_free(port), 10, f"port {port} still taken after the workers died")


# ---- helpers --------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    return False


def _wait_until(check: Any, timeout: float, message: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process is not None and process.poll() is not None:
            pytest.fail(f"exited with {process.returncode}: {message}")
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # Fields after the command name (which may hold spaces) start after the last ')'.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie left for init to reap is not running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def _port_free(port: int) -> bool:
    """Nobody answers on the port, and a new server can bind it (as uvicorn does, with SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else ""


@contextlib.contextmanager
def _killed_at_exit() -> Iterator[list[Any]]:
    """What is appended to the yielded list (a Popen, or the PID of one of its children) is SIGKILLed at the end if
    still running: by PID, never by name."""
    started: list[Any] = []
    try:
        yield started
    finally:
        for item in started:
            if isinstance(item, subprocess.Popen):
                if item.poll() is None:
                    item.kill()
                item.wait(timeout=10)
            elif _alive(item):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(item, signal.SIGKILL)
