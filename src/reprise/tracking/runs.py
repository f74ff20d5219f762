"""Captured runs: ``start_run`` around Python code and ``run_command`` around any command.

Both seed everything, capture git, environment and declared inputs while the MLflow run is created, log the
RunRecord's inputs side at once (so a crash still leaves it), and on exit add the outputs side: metrics, the files
the run wrote (declared or not), what it printed, prediction fingerprint and status. Everything Reprise logs goes in
a few batched calls: on the SQLite store a single ``log_metric`` costs ~9 ms.

Captures compose: ``start_run`` in a process started by ``reprise run`` (or by a reproduction) joins that run, so the
wrapper's record holds what the script logged; ``start_run(nested=True)`` makes a child run instead. A run made with
``start_run`` records how its process was started (``python train.py --lr 0.1``), so it can be re-run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprise._canonical import canonical_json, write_atomic
from reprise._offline import ensure_offline
from reprise.capture import layout
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
from reprise.capture.redact import redact_argv, redact_output, redact_uri
from reprise.capture.written import TreeSnapshot
from reprise.config import load_settings
from reprise.data.manifest import Manifest, build_manifest
from reprise.errors import CaptureError, RepriseError, ReproducibilityWarning, TrackingError
from reprise.seeding import SeedConfig, ensure_reproducibility
from reprise.tracking._client import NETWORK_ENV, client_for
from reprise.tracking._command import OWNER_TAG, StdoutTee, call, owner
from reprise.tracking._resident import in_process, resident_steps
from reprise.tracking.autolog import autologging, log_fitted_model

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from reprise.capture.environment import Environment
    from reprise.capture.git import GitState
    from reprise.config import Settings

__all__ = ["CapturedRun", "log_predictions", "run_command", "start_run"]

#: Small outputs whose contents a reproduction compares (not only their hashes) are kept under reprise/outputs/.
_KEPT_SUFFIXES = (".json", ".csv", ".tsv", ".npy", ".yaml", ".yml", ".txt", ".log")
_KEPT_FILE_BYTES = 1 << 20
_KEPT_TOTAL_BYTES = 8 << 20
#: Set by ``reprise run`` for its command: a ``start_run`` in that process joins this run instead of making another.
JOIN_ENV = "REPRISE_RUN_ID"
_JOINED_INPUTS = "reprise.joined_inputs"


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
        self._stdout: bytes | None = None
        self._command: list[str] = []

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
    nested: bool = False,
    autolog: bool = True,
    settings: Settings | None = None,
) -> Iterator[CapturedRun]:
    """Run a block of code as a fully captured MLflow run.

    The run is the active MLflow run inside the block, so ``mlflow.log_*`` and autologging land in it. With
    ``autolog`` (the default), MLflow autologs the params and training metrics of what the block fits with
    scikit-learn, XGBoost or LightGBM (those the script imported before the block), and the estimator fitted last
    is logged once, by :func:`reprise.log_model`'s rules, when the block ends well without a model logged in the
    run (:mod:`reprise.tracking.autolog`); autologging ends with the block. MLflow's
    tracking URI is set to the project's store for the rest of the process. The command line that started the
    process is recorded, so ``reprise reproduce`` can re-run it (an interactive session cannot be re-run: a
    :class:`~reprise.errors.ReproducibilityWarning` says so). What the block prints is kept.

    In a process started by ``reprise run`` (or by a reproduction) the block joins that run: params, metrics and
    predictions land in it, and the wrapper records the rest. With ``nested=True`` it becomes a child run instead.

    Args:
        experiment: MLflow experiment name (default: ``experiment`` from the settings).
        params: Parameters to log and record.
        inputs: Files or folders the run reads; hashed into the record's input manifest.
        outputs: Files or folders the run writes; hashed when the run ends (more with ``run.outputs``).
        seed: Root seed (default: ``seed`` from the settings).
        run_name: MLflow run name.
        tags: Extra MLflow tags.
        command: The command line being captured (used by ``reprise run``; default: how this process was started).
        nested: Inside ``reprise run``, make a child run of the wrapper's run instead of joining it.
        autolog: Autolog params, training metrics and the fitted model (see above); False: log only what the
            block logs.
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
    with _captured(
        experiment,
        params=params,
        inputs=inputs,
        outputs=outputs,
        seed=seed,
        run_name=run_name,
        tags=tags,
        command=command,
        nested=nested,
        autolog=autolog,
        settings=settings or load_settings(),
        steps=in_process,
    ) as run:
        yield run


@contextlib.contextmanager
def _captured(
    experiment: str | None,
    *,
    params: Mapping[str, Any] | None,
    inputs: Sequence[str | Path],
    outputs: Sequence[str | Path],
    seed: int | None,
    run_name: str | None,
    tags: Mapping[str, str] | None,
    command: Sequence[str] | None,
    nested: bool,
    autolog: bool,
    settings: Settings,
    steps: Callable[..., Any],
) -> Iterator[CapturedRun]:
    """``start_run``'s body, with the store steps run by ``steps``.

    The block runs as MLflow's active run when ``steps`` is :func:`~reprise.tracking._resident.in_process`
    (``reprise run``'s wrapper needs no active run: its command gets ``MLFLOW_RUN_ID``), and only then autologs.
    """
    ensure_offline()
    fluent = steps is in_process
    seeds = _seed(settings.seed if seed is None else seed, here=fluent)
    clean_params = {key: str(value) for key, value in (params or {}).items()}
    wrapper = None if nested else os.environ.get(JOIN_ENV)
    if wrapper:
        with _joined(wrapper, settings, seeds, clean_params, inputs, autolog=autolog) as joined:
            yield joined
        return
    started_at = _now()
    tee = None
    if command is None:
        command = _process_command(settings.project_dir)
        tee = StdoutTee()
    from reprise.capture.notebook import notebook_sha256

    notebook = notebook_sha256(command)  # at the start: Jupyter saves outputs into the notebook as it runs
    before = TreeSnapshot.take(settings.project_dir)
    git, environment, input_manifest = _capture_inputs(settings, inputs)
    with tempfile.TemporaryDirectory(prefix="reprise-") as tmp:
        _write_inputs(Path(tmp), git, environment, input_manifest)
        experiment_id, run_id = steps(
            "open_run",
            settings=settings,
            experiment=experiment or settings.experiment,
            run_name=run_name,
            tags=_run_tags(git, environment, input_manifest, seeds, tags),
            params=clean_params,
            folder=tmp,
        )
    run = CapturedRun(run_id, experiment_id, seeds, settings)
    run.outputs(outputs)
    run._command = list(command or [])
    if fluent:
        import mlflow

        mlflow.set_tracking_uri(settings.tracking_uri)
        mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None)
    status = "FINISHED"
    try:
        with tee if tee is not None else contextlib.nullcontext(), autologging(autolog and fluent) as watcher:
            yield run
        if watcher is not None:
            log_fitted_model(watcher)
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        if tee is not None:
            run._stdout = tee.captured()
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
                notebook_sha256=notebook,
            ),
            inputs=input_manifest,
            environment=environment,
            randomness=Randomness(seed=seeds.seed, pythonhashseed=seeds.pythonhashseed),
            params=clean_params,
            started_at=started_at,
        )
        run.record = _finish(run, base, status, before, steps, fluent=fluent)


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
        path = Path(tmp) / layout.PREDICTIONS
        np.save(path, array, allow_pickle=False)
        mlflow.log_artifact(str(path), layout.ARTIFACT_DIR)
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
    lands in the same run (a ``reprise.start_run`` in it joins the run), and ``PYTHONHASHSEED`` / ``REPRISE_SEED``
    for its randomness. Its standard output is passed through and kept. SIGINT and SIGTERM are forwarded to it; the
    run is then recorded as KILLED and ``KeyboardInterrupt`` raised once the command has exited.

    Raises:
        CaptureError: The command cannot be started.
        KeyboardInterrupt: The command was stopped by SIGINT or SIGTERM.
    """
    if not argv:
        raise CaptureError("no command given to run", hint="reprise run -- python train.py")
    settings = settings or load_settings()
    with (
        resident_steps(settings) as steps,
        _captured(
            experiment,
            params=None,
            inputs=inputs,
            outputs=outputs,
            seed=seed,
            run_name=run_name,
            tags=None,
            command=list(argv),
            nested=False,
            autolog=False,
            settings=settings,
            steps=steps,
        ) as run,
    ):
        # The network bounds a wrapper that opened the store itself would pass on (the resident opened it instead).
        env = {**NETWORK_ENV, **os.environ}
        env.update(
            MLFLOW_RUN_ID=run.run_id,
            MLFLOW_TRACKING_URI=run.settings.tracking_uri,
            MLFLOW_EXPERIMENT_ID=run.experiment_id,
            PYTHONHASHSEED=run.seeds.pythonhashseed,
            REPRISE_SEED=str(run.seeds.seed),
        )
        env[JOIN_ENV] = run.run_id
        run.exit_code, run._stdout, stopped_by = call(argv, env)
        if stopped_by is not None:
            raise KeyboardInterrupt(f"stopped by signal {stopped_by}")
    assert run.record is not None  # set by start_run on exit
    return run.exit_code, run.record


@contextlib.contextmanager
def _joined(
    run_id: str,
    settings: Settings,
    seeds: SeedConfig,
    params: Mapping[str, str],
    inputs: Sequence[str | Path],
    *,
    autolog: bool,
) -> Iterator[CapturedRun]:
    """``start_run`` inside ``reprise run``: log into the wrapper's run, which records everything else.

    The inputs the block declares are named in the ``reprise.joined_inputs`` tag: the wrapper hashes them into its
    record when the command ends.
    """
    import mlflow
    from mlflow.entities import Param, RunTag

    client = client_for(settings)
    tags = [RunTag(_JOINED_INPUTS, ",".join(str(path) for path in inputs))] if inputs else []
    try:
        experiment_id = str(client.get_run(run_id).info.experiment_id)
        params_ = [Param(key, value) for key, value in params.items()]
        if params_ or tags:
            client.log_batch(run_id, params=params_, tags=tags)
    except Exception as exc:  # an MlflowException: imported lazily, so caught by its base here
        raise TrackingError(f"cannot join run {run_id} ({JOIN_ENV}): {exc}", hint=f"unset {JOIN_ENV}") from exc
    run = CapturedRun(run_id, experiment_id, seeds, settings)
    mlflow.set_tracking_uri(settings.tracking_uri)
    active = mlflow.active_run()
    started = active is None or active.info.run_id != run_id
    if started:
        mlflow.start_run(run_id=run_id)
    try:
        with autologging(autolog) as watcher:
            yield run
        if watcher is not None:
            log_fitted_model(watcher)
    finally:
        if run._predictions is not None and run._predictions.dtype != object:
            import numpy as np

            with tempfile.TemporaryDirectory(prefix="reprise-") as tmp:
                np.save(Path(tmp) / layout.PREDICTIONS, run._predictions, allow_pickle=False)
                client.log_artifacts(run_id, tmp, layout.ARTIFACT_DIR)
        if started:
            mlflow.end_run()


def _seed(seed: int, *, here: bool) -> SeedConfig:
    """Seed this process (``here``), or only hand the seed to child processes.

    ``reprise run``'s command is another process: seeding the wrapper would only cost numpy's import. What
    :func:`~reprise.seeding.ensure_reproducibility` hands to children is set all the same (it is recorded with the
    environment, and a reproduction compares it).
    """
    if here:
        return ensure_reproducibility(seed)
    seeds = SeedConfig(seed)
    os.environ.update(PYTHONHASHSEED=seeds.pythonhashseed, REPRISE_SEED=str(seeds.seed))
    return seeds


def _process_command(root: Path) -> list[str] | None:
    """How this process was started, for re-running it: ``[python, train.py, --lr, 0.1]`` or ``[python, -m, pkg]``.

    Paths inside the project are made relative to the working directory (a reproduction runs in another checkout).
    In a Jupyter kernel: the command that runs its notebook headless (``capture.notebook.notebook_command``).
    None, with a warning, for an interactive session or a notebook that cannot be found: there is no command to run.
    """
    argv = list(getattr(sys, "orig_argv", None) or [])
    script = sys.argv[0] if sys.argv else ""
    interactive = len(argv) < 2 or not script or script == "-" or (sys.flags.interactive and script == "")
    if _in_kernel() or script.endswith("ipykernel_launcher.py"):
        from reprise.capture.notebook import notebook_command

        notebook = notebook_command(root)  # `python -m reprise.capture.notebook NB.ipynb`, when it can be found
        if notebook is not None:
            return notebook
        what = "a notebook"
    elif interactive:
        what = "an interactive session"
    else:
        cwd = Path.cwd()
        command = [sys.executable]
        for arg in argv[1:]:
            path = Path(arg)
            inside = path.is_absolute() and path.is_relative_to(root) and path.exists()
            command.append(os.path.relpath(path, cwd) if inside else arg)
        return command
    _warn_once(what)
    return None


def _in_kernel() -> bool:
    """This process is a running Jupyter kernel (not merely a script that imported ipykernel, as nbclient does)."""
    app = sys.modules.get("ipykernel.kernelapp")
    return app is not None and bool(app.IPKernelApp.initialized())


@functools.cache
def _warn_once(what: str) -> None:
    """Say once per process (not at every run) that runs started here cannot be re-run."""
    warnings.warn(
        f"reprise.start_run in {what}: the run is captured but cannot be re-run by `reprise reproduce` "
        "(save the code as a script and run it with `python train.py` or `reprise run -- python train.py`)",
        ReproducibilityWarning,
        stacklevel=5,
    )


def _capture_inputs(settings: Settings, inputs: Sequence[str | Path]) -> tuple[GitState, Environment, Manifest | None]:
    # Git runs subprocesses, which release the GIL: capture it beside the environment.
    with ThreadPoolExecutor(max_workers=1) as pool:
        git_future = pool.submit(capture_git, settings.project_dir)
        environment = capture_environment(env_globs=settings.capture_env_vars)
        manifest = build_manifest(list(inputs), base=settings.project_dir) if inputs else None
        return git_future.result(), environment, manifest


def _run_tags(
    git: GitState,
    environment: Environment,
    inputs: Manifest | None,
    seeds: SeedConfig,
    extra_tags: Mapping[str, str] | None,
) -> dict[str, str]:
    """The tags a run is created with: what it ran on (for search), its owner process, and its parent run."""
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
    me = owner()
    if me is not None:
        tags[OWNER_TAG] = me
    # Inside `reprise run`, the wrapper's run (MLflow drops MLFLOW_RUN_ID once a joined block has ended).
    parent = os.environ.get(JOIN_ENV) or os.environ.get("MLFLOW_RUN_ID")
    if parent:
        tags["mlflow.parentRunId"] = parent
    return tags


def _write_inputs(folder: Path, git: GitState, environment: Environment, inputs: Manifest | None) -> None:
    """The inputs side's files, logged when the run is created: environment, uncommitted patch, input manifest."""
    write_capture(environment, folder)
    if git.dirty:
        write_atomic(folder / layout.PATCH, git.patch_bytes())
    if inputs is not None:
        write_atomic(folder / layout.INPUTS, canonical_json(inputs.model_dump(mode="json")))


def _finish(
    run: CapturedRun,
    base: RunRecord,
    status: str,
    before: TreeSnapshot,
    steps: Callable[..., Any],
    *,
    fluent: bool,
) -> RunRecord:
    """Record the outputs side, log the record (its digest as a tag), and end the MLflow run with ``status``."""
    root = run.settings.project_dir
    written = before.written()
    present = [path for path in run._outputs if (root / path).exists()]
    missing = sorted(set(run._outputs) - set(present))
    try:
        output_manifest = _output_manifest(present, written, root)
    except RepriseError:
        output_manifest = None
    declared = [os.path.normpath(path).rstrip("/") for path in present]
    found = output_manifest.paths if output_manifest is not None else ()
    undeclared = tuple(p for p in found if not any(p == d or p.startswith(f"{d}/") for d in declared))
    metrics, logged_tags, fingerprint = steps(
        "read_logged", settings=run.settings, run_id=run.run_id, fingerprint=run._fingerprint
    )
    base = _with_joined_inputs(base, logged_tags.get(_JOINED_INPUTS, ""), root)
    with tempfile.TemporaryDirectory(prefix="reprise-") as tmp:
        folder = Path(tmp)
        if run._predictions is not None and run._predictions.dtype != object:
            import numpy as np

            np.save(folder / layout.PREDICTIONS, run._predictions, allow_pickle=False)
        not_kept = _keep_small_outputs(output_manifest, root, folder / layout.OUTPUTS)
        if run._stdout is not None:
            printed = redact_output(run._stdout.decode("utf-8", errors="replace"), run._command)
            write_atomic(folder / layout.STDOUT, printed)
        record = base.model_copy(
            update={
                "status": status,
                "outputs": Outputs(
                    metrics=dict(sorted(metrics.items())),
                    manifest=output_manifest,
                    predictions=fingerprint,
                    exit_code=run.exit_code,
                    undeclared=undeclared,
                    not_kept=tuple(not_kept),
                    stdout_kept=run._stdout is not None,
                ),
                "ended_at": _now(),
            }
        )
        text = record.to_json()
        write_atomic(folder / layout.RECORD, text)
        tags = {
            "reprise.inputs_digest": record.inputs_digest,
            "reprise.data_digest": record.data_digest or "",
            layout.RECORD_DIGEST_TAG: hashlib.sha256(text.encode()).hexdigest(),
        }
        if missing:
            tags["reprise.missing_outputs"] = ",".join(missing)
            print(f"reprise: declared outputs not found: {', '.join(missing)}", file=sys.stderr)
        active = None
        if fluent:
            import mlflow

            active = mlflow.active_run()
        ours = active is not None and active.info.run_id == run.run_id
        steps(
            "close_run",
            settings=run.settings,
            record=record,
            folder=tmp,
            tags=tags,
            parent=logged_tags.get("mlflow.parentRunId"),
            end=not ours,
        )
    if ours:
        mlflow.end_run(status)
    return record


def _with_joined_inputs(base: RunRecord, joined: str, root: Path) -> RunRecord:
    """The record with the inputs a joined ``start_run`` declared hashed into it (see :func:`_joined`)."""
    declared = set(base.inputs.paths) if base.inputs is not None else set()
    extra = [path for path in joined.split(",") if path and path not in declared]
    if not extra:
        return base
    try:
        inputs = build_manifest(sorted(declared) + extra, base=root)
    except RepriseError as exc:
        print(f"reprise: inputs declared by the script not recorded: {exc.message}", file=sys.stderr)
        return base
    return base.model_copy(update={"inputs": inputs})


def _output_manifest(declared: list[str], written: list[str] | None, root: Path) -> Manifest | None:
    """The files the run wrote: under the declared outputs and anywhere else in the project.

    A file under a declared output that the run did not write (a stale file from an earlier run) is not one of its
    outputs. When the tree was too large to watch (``written`` is None), the declared outputs are taken whole.
    """
    if written is None:
        return build_manifest(declared, base=root) if declared else None
    if not written:
        return None
    return build_manifest(written, base=root)


def _keep_small_outputs(manifest: Manifest | None, root: Path, folder: Path) -> list[str]:
    """Copy small JSON/CSV/YAML/text/``.npy`` outputs (1 MiB each, 8 MiB in all) next to the record.

    Outputs get overwritten by the next run; a reproduction then still has the original contents to compare with
    (an output naming its own run id differs in bytes from every re-run and is the same in meaning).

    Returns:
        The outputs whose contents were not kept (other kinds, or over the budget): compared by hash only.
    """
    import shutil

    budget = _KEPT_TOTAL_BYTES
    skipped = []
    for entry in manifest.files if manifest is not None else ():
        relative = Path(entry.path)
        if relative.is_absolute() or ".." in relative.parts:
            continue  # an output outside the project: not ours to copy
        if not entry.path.lower().endswith(_KEPT_SUFFIXES) or entry.size > min(_KEPT_FILE_BYTES, budget):
            skipped.append(entry.path)
            continue
        target = folder / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(root / entry.path, target)
        except OSError:
            skipped.append(entry.path)
            continue
        budget -= entry.size
    return skipped


def _relative_cwd(root: Path) -> str:
    try:
        return Path.cwd().resolve().relative_to(root).as_posix()
    except ValueError:
        return "."


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
