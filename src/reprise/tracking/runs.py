"""Captured runs: ``start_run`` around Python code and ``run_command`` around any command.

Both seed everything, capture git, environment and declared inputs while the MLflow run is created, log the
RunRecord's inputs side at once (so a crash still leaves it), and on exit add the outputs side: metrics, output
manifest, prediction fingerprint and status. Everything Reprise logs goes in a few batched calls: on the SQLite store
a single ``log_metric`` costs ~9 ms.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprise._canonical import canonical_json, write_atomic
from reprise._offline import ensure_offline
from reprise.capture.environment import capture_environment, write_capture
from reprise.capture.git import capture_git
from reprise.capture.record import (
    CodeState,
    Outputs,
    PredictionFingerprint,
    Randomness,
    RunRecord,
    fingerprint_predictions,
)
from reprise.capture.redact import redact_argv, redact_uri
from reprise.config import load_settings
from reprise.data.manifest import Manifest, build_manifest
from reprise.errors import CaptureError, RepriseError, TrackingError
from reprise.seeding import SeedConfig, ensure_reproducibility
from reprise.tracking._client import client_for, ensure_experiment

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from mlflow import MlflowClient

    from reprise.capture.environment import Environment
    from reprise.capture.git import GitState
    from reprise.config import Settings

__all__ = ["ARTIFACT_DIR", "CapturedRun", "log_predictions", "run_command", "start_run"]

#: Folder, inside each MLflow run's artifacts, that holds what Reprise captured.
ARTIFACT_DIR = "reprise"
_PREDICTIONS = "predictions.npy"
#: Small outputs whose contents a reproduction compares (not only their hashes) are kept under reprise/outputs/.
_OUTPUTS = "outputs"
_KEPT_SUFFIXES = (".json", ".csv", ".tsv", ".npy", ".yaml", ".yml", ".txt")
_KEPT_FILE_BYTES = 1 << 20
_KEPT_TOTAL_BYTES = 8 << 20


class CapturedRun:
    """The handle ``start_run`` yields: the MLflow run plus what Reprise will record about it.

    Attributes:
        run_id: The MLflow run id.
        experiment_id: The MLflow experiment id.
        seeds: The seed configuration the run was given (``seeds.sklearn``, ``seeds["split"]``, ...).
        settings: The settings the run was captured with.
        record: The full RunRecord, available once the ``with`` block has exited.
    """

    def __init__(self, run_id: str, experiment_id: str, seeds: SeedConfig, settings: Settings) -> None:
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.seeds = seeds
        self.settings = settings
        self.record: RunRecord | None = None
        self.exit_code: int | None = None
        self._outputs: list[str] = []
        self._predictions: Any = None
        self._fingerprint: PredictionFingerprint | None = None

    def outputs(self, paths: Sequence[str | Path]) -> None:
        """Declare output files or folders; they are hashed into the record when the run ends."""
        self._outputs.extend(str(path) for path in paths)

    def log_predictions(self, predictions: Any) -> PredictionFingerprint:
        """Fingerprint predictions bitwise and keep them (``reprise/predictions.npy``) for later comparison."""
        import numpy as np

        self._predictions = np.asarray(predictions)
        self._fingerprint = fingerprint_predictions(self._predictions)
        return self._fingerprint

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Log several metrics in one batched call."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, float(value), now, step) for key, value in metrics.items()]
        client_for(self.settings).log_batch(self.run_id, metrics=batch)


@contextlib.contextmanager
def start_run(
    experiment: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[str | Path] = (),
    outputs: Sequence[str | Path] = (),
    seed: int | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    command: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> Iterator[CapturedRun]:
    """Run a block of code as a fully captured MLflow run.

    The run is the active MLflow run inside the block, so ``mlflow.log_*`` and autologging land in it. MLflow's
    tracking URI is set to the project's store for the rest of the process.

    Args:
        experiment: MLflow experiment name (default: ``experiment`` from the settings).
        params: Parameters to log and record.
        inputs: Files or folders the run reads; hashed into the record's input manifest.
        outputs: Files or folders the run writes; hashed when the run ends (more with ``run.outputs``).
        seed: Root seed (default: ``seed`` from the settings).
        run_name: MLflow run name.
        tags: Extra MLflow tags.
        command: The command line being captured (used by ``reprise run``).
        settings: Project settings (default: loaded from the working directory).

    Yields:
        The captured run; ``run.record`` is filled in when the block exits.

    Raises:
        NotAProjectError: No project and no settings.
        DataError: A declared input does not exist.
        TrackingError: The tracking store cannot be used.

    Example:
        >>> with reprise.start_run(params={"n_estimators": 100}, inputs=["data/train.csv"]) as run:  # doctest: +SKIP
        ...     model = RandomForestClassifier(**run.seeds.sklearn).fit(X, y)
        ...     run.log_predictions(model.predict(X_test))
    """
    settings = settings or load_settings()
    ensure_offline()
    seeds = ensure_reproducibility(settings.seed if seed is None else seed)
    started_at = _now()
    git, environment, input_manifest = _capture_inputs(settings, inputs)
    import mlflow

    experiment_id = ensure_experiment(settings, experiment or settings.experiment)
    run_id = _create_run(settings, experiment_id, run_name, git, environment, input_manifest, seeds, tags)
    run = CapturedRun(run_id, experiment_id, seeds, settings)
    run.outputs(outputs)
    clean_params = {key: str(value) for key, value in (params or {}).items()}
    _log_inputs(settings, run_id, clean_params, git, environment, input_manifest)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None)
    status = "FINISHED"
    try:
        yield run
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        if status == "FINISHED" and run.exit_code not in (None, 0):
            status = "FAILED"
        base = RunRecord(
            run_id=run_id,
            experiment_id=experiment_id,
            tracking_uri=redact_uri(settings.tracking_uri),
            status="RUNNING",
            code=CodeState(
                git=git,
                command=None if command is None else redact_argv(command),
                workdir=_relative_cwd(settings.project_dir),
            ),
            inputs=input_manifest,
            environment=environment,
            randomness=Randomness(seed=seeds.seed, pythonhashseed=seeds.pythonhashseed),
            params=clean_params,
            started_at=started_at,
        )
        run.record = _finish(run, base, status)


def log_predictions(predictions: Any) -> PredictionFingerprint:
    """Log predictions to the active MLflow run as ``reprise/predictions.npy`` and return their fingerprint.

    Works in a command run by ``reprise run`` (the child's MLflow run is Reprise's run): the record then carries the
    fingerprint. Inside ``start_run`` prefer ``run.log_predictions``.

    Raises:
        TrackingError: No MLflow run is active.
    """
    import mlflow
    import numpy as np

    active = mlflow.active_run()
    if active is None:
        raise TrackingError(
            "log_predictions needs an active MLflow run", hint="call it inside mlflow.start_run() under `reprise run`"
        )
    array = np.asarray(predictions)
    with tempfile.TemporaryDirectory(prefix="reprise-") as tmp:
        path = Path(tmp) / _PREDICTIONS
        np.save(path, array, allow_pickle=False)
        mlflow.log_artifact(str(path), ARTIFACT_DIR)
    return fingerprint_predictions(array)


def run_command(
    argv: Sequence[str],
    *,
    experiment: str | None = None,
    inputs: Sequence[str | Path] = (),
    outputs: Sequence[str | Path] = (),
    seed: int | None = None,
    run_name: str | None = None,
    settings: Settings | None = None,
) -> tuple[int, RunRecord]:
    """Run ``argv`` as a captured run and return its exit code and record.

    The child gets ``MLFLOW_RUN_ID``, ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_ID``, so its own MLflow logging
    lands in the same run, and ``PYTHONHASHSEED`` / ``REPRISE_SEED`` for its randomness.

    Raises:
        CaptureError: The command cannot be started.
    """
    if not argv:
        raise CaptureError("no command given to run", hint="reprise run -- python train.py")
    with start_run(
        experiment,
        inputs=inputs,
        outputs=outputs,
        seed=seed,
        run_name=run_name,
        command=list(argv),
        settings=settings,
    ) as run:
        env = dict(os.environ)
        env.update(
            MLFLOW_RUN_ID=run.run_id,
            MLFLOW_TRACKING_URI=run.settings.tracking_uri,
            MLFLOW_EXPERIMENT_ID=run.experiment_id,
            PYTHONHASHSEED=run.seeds.pythonhashseed,
            REPRISE_SEED=str(run.seeds.seed),
        )
        try:
            run.exit_code = subprocess.call(list(argv), env=env)
        except OSError as exc:
            run.exit_code = 127
            raise CaptureError(f"cannot start {argv[0]!r}: {exc.strerror}", hint="check the command and PATH") from exc
    assert run.record is not None  # set by start_run on exit
    return run.exit_code, run.record


def _capture_inputs(settings: Settings, inputs: Sequence[str | Path]) -> tuple[GitState, Environment, Manifest | None]:
    # Git runs subprocesses, which release the GIL: capture it beside the environment.
    with ThreadPoolExecutor(max_workers=1) as pool:
        git_future = pool.submit(capture_git, settings.project_dir)
        environment = capture_environment(env_globs=settings.capture_env_vars)
        manifest = build_manifest(list(inputs), base=settings.project_dir) if inputs else None
        return git_future.result(), environment, manifest


def _create_run(
    settings: Settings,
    experiment_id: str,
    run_name: str | None,
    git: GitState,
    environment: Environment,
    inputs: Manifest | None,
    seeds: SeedConfig,
    extra_tags: Mapping[str, str] | None,
) -> str:
    from mlflow.exceptions import MlflowException

    tags = {
        "reprise.record_version": "1",
        "reprise.git_commit": git.commit or "",
        "reprise.git_dirty": str(git.dirty).lower(),
        "reprise.env_digest": environment.digest(),
        "reprise.data_digest": "" if inputs is None else inputs.digest,
        "reprise.seed": str(seeds.seed),
        **(extra_tags or {}),
    }
    if git.commit:
        tags["mlflow.source.git.commit"] = git.commit
    parent = os.environ.get("MLFLOW_RUN_ID")
    if parent:
        tags["mlflow.parentRunId"] = parent
    try:
        created = client_for(settings).create_run(experiment_id, run_name=run_name, tags=tags)
    except MlflowException as exc:
        raise TrackingError(f"cannot create a run in {redact_uri(settings.tracking_uri)}: {exc.message}") from exc
    return str(created.info.run_id)


def _log_inputs(
    settings: Settings,
    run_id: str,
    params: Mapping[str, str],
    git: GitState,
    environment: Environment,
    inputs: Manifest | None,
) -> None:
    from mlflow.entities import Param

    client = client_for(settings)
    if params:
        client.log_batch(run_id, params=[Param(key, value) for key, value in params.items()])
    with tempfile.TemporaryDirectory(prefix="reprise-") as tmp:
        folder = Path(tmp)
        write_capture(environment, folder)
        if git.dirty:
            write_atomic(folder / "code.patch", git.patch_bytes())
        if inputs is not None:
            write_atomic(folder / "inputs.json", canonical_json(inputs.model_dump(mode="json")))
        client.log_artifacts(run_id, str(folder), ARTIFACT_DIR)


def _finish(run: CapturedRun, base: RunRecord, status: str) -> RunRecord:
    """Record the outputs side, log the record, and end the MLflow run with ``status``."""
    import mlflow
    import numpy as np
    from mlflow.entities import RunTag

    client = client_for(run.settings)
    root = run.settings.project_dir
    present = [path for path in run._outputs if (root / path).exists()]
    missing = sorted(set(run._outputs) - set(present))
    try:
        output_manifest = build_manifest(present, base=root) if present else None
    except RepriseError:
        output_manifest = None
    metrics = client.get_run(run.run_id).data.metrics
    fingerprint = run._fingerprint or _logged_fingerprint(client, run.run_id)
    record = base.model_copy(
        update={
            "status": status,
            "outputs": Outputs(
                metrics=dict(sorted(metrics.items())),
                manifest=output_manifest,
                predictions=fingerprint,
                exit_code=run.exit_code,
            ),
            "ended_at": _now(),
        }
    )
    with tempfile.TemporaryDirectory(prefix="reprise-") as tmp:
        folder = Path(tmp)
        write_atomic(folder / "record.json", record.to_json())
        if run._predictions is not None and run._predictions.dtype != object:
            np.save(folder / _PREDICTIONS, run._predictions, allow_pickle=False)
        _keep_small_outputs(output_manifest, root, folder / _OUTPUTS)
        client.log_artifacts(run.run_id, str(folder), ARTIFACT_DIR)
    tags = [RunTag("reprise.inputs_digest", record.inputs_digest)]
    if missing:
        tags.append(RunTag("reprise.missing_outputs", ",".join(missing)))
        print(f"reprise: declared outputs not found: {', '.join(missing)}", file=sys.stderr)
    client.log_batch(run.run_id, tags=tags)
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run.run_id:
        mlflow.end_run(status)
    else:
        client.set_terminated(run.run_id, status)
    return record


def _keep_small_outputs(manifest: Manifest | None, root: Path, folder: Path) -> None:
    """Copy small JSON/CSV/YAML/text/``.npy`` outputs (1 MiB each, 8 MiB in all) next to the record.

    Outputs get overwritten by the next run; a reproduction then still has the original contents to compare with
    (an output naming its own run id differs in bytes from every re-run and is the same in meaning).
    """
    import shutil

    budget = _KEPT_TOTAL_BYTES
    for entry in manifest.files if manifest is not None else ():
        relative = Path(entry.path)
        if relative.is_absolute() or ".." in relative.parts:
            continue  # an output outside the project: not ours to copy
        if not entry.path.lower().endswith(_KEPT_SUFFIXES) or entry.size > min(_KEPT_FILE_BYTES, budget):
            continue
        target = folder / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(root / entry.path, target)
        except OSError:
            continue
        budget -= entry.size


def _logged_fingerprint(client: MlflowClient, run_id: str) -> PredictionFingerprint | None:
    """Fingerprint predictions a child process logged with :func:`log_predictions`, if it did."""
    import numpy as np

    if not any(item.path.endswith(_PREDICTIONS) for item in client.list_artifacts(run_id, ARTIFACT_DIR)):
        return None
    with tempfile.TemporaryDirectory(prefix="reprise-") as tmp:
        local = client.download_artifacts(run_id, f"{ARTIFACT_DIR}/{_PREDICTIONS}", tmp)
        return fingerprint_predictions(np.load(local, allow_pickle=False))


def _relative_cwd(root: Path) -> str:
    try:
        return Path.cwd().resolve().relative_to(root).as_posix()
    except ValueError:
        return "."


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
