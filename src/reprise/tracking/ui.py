"""The MLflow UI on a project's own store, bound to loopback."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from reprise._offline import ensure_offline

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = ["ui_command"]


def ui_command(settings: Settings, *, port: int = 5000) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve the MLflow UI for the project's tracking store on 127.0.0.1."""
    env = dict(os.environ)
    ensure_offline(env)
    # The UI needs no job runner: without this MLflow starts huey workers and takes 27 s instead of 11 s.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    # The server's own deprecation warnings (starlette's, printed once per worker) are not the user's to act on.
    env.setdefault("PYTHONWARNINGS", "ignore")
    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", settings.tracking_uri]
    argv += ["--default-artifact-root", settings.artifact_location, "--host", "127.0.0.1", "--port", str(port)]
    # One user needs one worker: MLflow's default 4 each import MLflow, 20 s instead of 11 s to the first page on
    # two cores. Warnings and errors only: the access log is noise on a personal UI.
    argv += ["--workers", "1", "--uvicorn-opts", "--log-level warning"]
    return argv, env
