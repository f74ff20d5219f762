"""Running the recorded command again: its command line, its environment variables, its output.

The re-run goes through ``python -m reprise run`` of the reproduction's interpreter, so it is itself a captured run
(its own RunRecord, taken inside the rebuilt environment) with the recorded seed, inputs and outputs. Its environment
is the recorded one: variables Reprise records (``OMP_*``, ``MKL_*``, ``PYTHONHASHSEED``...) get their recorded
values, and those the original did not have are removed; only where results are logged is changed.
"""

from __future__ import annotations

import collections
import fnmatch
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Final

from reprise._offline import ensure_offline
from reprise.capture.redact import DEFAULT_ENV_GLOBS, REDACTED
from reprise.errors import ReproductionError
from reprise.reproduce.explain import INCIDENTAL_ENV_VARS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from reprise.capture.record import RunRecord
    from reprise.config import Settings

__all__ = ["child_env", "execute", "replay_argv"]

_TAIL: Final = 40
#: Kept from the current environment even though the capture globs match them: they only keep tools quiet.
_KEEP: Final = frozenset({"MLFLOW_DISABLE_TELEMETRY", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"})


def replay_argv(record: RunRecord, python: str, *, run_name: str | None, outputs: Sequence[str]) -> list[str]:
    """The command line that re-runs the recorded command as a captured run with the recorded seed and paths.

    A command started with the recorded interpreter's own path runs with the re-run's interpreter instead. A
    recorded ``dvc repro`` gets ``--force``: otherwise DVC would restore every stage from its cache instead of
    running it, and the "reproduction" would prove nothing.

    Raises:
        ReproductionError: The run has no recorded command, or the command had secrets redacted out of it.
    """
    command = record.code.command
    if not command:
        raise ReproductionError(
            f"run {record.run_id} recorded no command (captured with reprise.start_run in Python)",
            hint="reprise reproduce re-runs commands captured with `reprise run -- CMD` (or DVC stages made of them)",
        )
    redacted = [arg for arg in command if REDACTED in arg]
    if redacted:
        raise ReproductionError(
            f"the recorded command of run {record.run_id} had secrets redacted ({', '.join(redacted[:3])}): "
            "it cannot be replayed as it ran",
            hint="pass secrets to commands through environment variables, which are never recorded",
        )
    argv = list(command)
    if argv[0] == record.environment.python.executable:
        argv[0] = python  # the recorded interpreter by its path: the re-run's interpreter is the one to use
    if argv[:2] == ["dvc", "repro"] and not {"-f", "--force"} & set(argv):
        argv.append("--force")
    line = [python, "-m", "reprise", "run", "--seed", str(record.randomness.seed)]
    if run_name:
        line += ["--name", run_name]
    for path in record.inputs.paths if record.inputs is not None else ():
        line += ["-i", path]
    for path in outputs:
        line += ["-o", path]
    return [*line, "--", *argv]


def child_env(
    record: RunRecord,
    settings: Settings,
    *,
    experiment: str,
    parent_run_id: str,
    bin_dir: Path,
    venv: Path | None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The re-run's environment: the current one with the recorded variables restored and the logging redirected.

    Args:
        record: The original run's record.
        settings: The project's settings (the re-run logs to the same store and experiment).
        experiment: The original run's experiment name.
        parent_run_id: The reproduction run the re-run hangs off (``MLFLOW_RUN_ID``).
        bin_dir: Put first on ``PATH`` (the venv's ``bin``, or the current interpreter's).
        venv: The reproduction's venv, if any.
        environ: The environment to start from (default: ``os.environ``).
        overrides: Variables set over the recorded ones (a what-if, e.g. ``OMP_NUM_THREADS``).
    """
    env = dict(os.environ if environ is None else environ)
    recorded = record.environment.env_vars
    globs = (*DEFAULT_ENV_GLOBS, *settings.capture_env_vars)
    for name in list(env):
        if name not in recorded and name not in _KEEP and any(fnmatch.fnmatchcase(name, glob) for glob in globs):
            del env[name]
    for name, value in recorded.items():
        # A redacted value stays whatever this environment has: the secret itself was never recorded.
        if value != REDACTED and name not in INCIDENTAL_ENV_VARS:
            env[name] = value
    env.update(overrides or {})
    env.pop("MLFLOW_EXPERIMENT_ID", None)
    env.pop("REPRISE_RUN_ID", None)  # the re-run's `reprise run` is the wrapper here, whoever started us
    env.update(
        MLFLOW_RUN_ID=parent_run_id,
        REPRISE_TRACKING_URI=settings.tracking_uri,
        REPRISE_ARTIFACT_LOCATION=settings.artifact_location,
        REPRISE_STORE_URI=settings.store_uri,
        REPRISE_EXPERIMENT=experiment,
        # Code with side effects (registering a model, moving an alias) can tell it is being reproduced.
        REPRISE_REPRODUCTION_OF=record.run_id,
        PYTHONHASHSEED=record.randomness.pythonhashseed,
        PATH=os.pathsep.join([str(bin_dir), env.get("PATH", "")]),
    )
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env.pop("PYTHONHOME", None)
        # A fresh venv has no byte code yet: let the first import write it, or every process recompiles MLflow.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    ensure_offline(env)
    return env


def execute(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path, echo: bool) -> tuple[int, list[str]]:
    """Run ``argv``, writing its output (stdout and stderr) to ``log`` and, with ``echo``, to our stderr.

    Returns:
        The exit code and the last lines of output.

    Raises:
        ReproductionError: The command cannot be started.
    """
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL)
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except OSError as exc:
        raise ReproductionError(f"cannot start the re-run in {cwd}: {exc.strerror}", hint=f"ls {cwd}") from exc
    with process, log.open("w", encoding="utf-8") as handle:
        assert process.stdout is not None
        for line in process.stdout:
            handle.write(line)
            tail.append(line.rstrip("\n"))
            if echo:
                sys.stderr.write(line)
                sys.stderr.flush()
    return process.wait(), list(tail)
