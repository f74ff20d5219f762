"""The determinism audit: run the same thing twice, in place, same inputs, same seed, and list what differs.

:func:`audit_command` runs a command under ``reprise run`` several times; :func:`audit_stages` runs DVC stages with
``dvc repro --force --single-item``. After each run every output is hashed: the files the stages declare (or the
command declares with ``-o``, plus every file it created or rewrote in the project, found by
:class:`~reprise.capture.written.TreeSnapshot` as for captured runs), the metrics of the captured runs and their
children, and the prediction fingerprints. Whatever is not the same in every run is a concrete nondeterministic
output, reported with the stage it came from; a clean audit says so, and an audit that found nothing to compare (no
file written or declared, no metric, no predictions) is ``unverified``, never clean.

Each repetition is one MLflow run (``audit 1/2: ...``) that everything the command logs lands under: ``reprise run``
makes its run a child of it, a ``reprise.start_run`` or ``mlflow.start_run()`` inside the command joins that child,
and nested runs hang below. Metrics and predictions are collected from the whole tree, each named by the label
:func:`reprise.tracking.records.run_tree` gives its run (stable across repetitions: generated run names are not);
in stage mode the runs a stage made are labelled by the stage.

Example:
    >>> report = audit_command(["python", "train.py"], runs=2)   # doctest: +SKIP
    >>> report.clean, [o.path for o in report.nondeterministic_outputs]   # doctest: +SKIP
    (False, ['predictions.npy'])
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from reprise.errors import ConfigError, ReproductionError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reprise.config import Settings
    from reprise.tracking.records import RunInfo

__all__ = ["AuditReport", "AuditVerdict", "MetricAudit", "OutputAudit", "audit_command", "audit_stages"]

#: ``clean``: everything compared was the same every time; ``nondeterministic``: something differed;
#: ``unverified``: there was nothing to compare.
AuditVerdict = Literal["clean", "nondeterministic", "unverified"]

_KEEP_BYTES: Final = 8 << 20
#: Name of the captured run in command mode (a fixed name, so metric names line up across runs).
_RUN_NAME: Final = "audited"
#: The label of predictions logged on a repetition's own run (a stage's bare ``mlflow.start_run()`` resumes it).
_ROOT_LABEL: Final = "the audit run"
#: The tag :func:`reprise.tracking.records.run_tree` labels a run by.
_ROLE_TAG: Final = "reprise.role"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OutputAudit(_Frozen):
    """One output across the runs: a file (sha256 per run) or a run's predictions (fingerprint per run).

    Attributes:
        path: The file, relative to the project, or ``predictions of <run>``.
        stage: The DVC stage that declares it (None in command mode).
        sha256: Its hash after each run (None where it was absent).
        consistent: The same in every run.
        detail: How the contents differ, for JSON, CSV and ``.npy`` files.
    """

    path: str
    stage: str | None = None
    sha256: tuple[str | None, ...]
    consistent: bool
    detail: str | None = None


class MetricAudit(_Frozen):
    """One metric across the runs (``stage/child/metric`` names)."""

    name: str
    stage: str | None = None
    values: tuple[float | None, ...]
    consistent: bool
    max_abs_delta: float | None = None


class AuditReport(_Frozen):
    """What came out of running the same thing several times.

    Attributes:
        target: The command or the stages audited.
        mode: ``command`` or ``stages``.
        runs: How many times it ran.
        run_ids: The runs each repetition made (its captured runs and their children), parents first.
        outputs: Every output, consistent or not.
        metrics: Every metric, consistent or not.
        hints: Nondeterminism suspects found in the code when something differs.
        verdict: ``clean``, ``nondeterministic`` or ``unverified`` (nothing to compare).
        clean: Something was compared and all of it was the same every time.
        seconds: Wall time.
    """

    target: str
    mode: Literal["command", "stages"]
    runs: int
    run_ids: tuple[tuple[str, ...], ...] = ()
    outputs: tuple[OutputAudit, ...] = ()
    metrics: tuple[MetricAudit, ...] = ()
    hints: tuple[str, ...] = ()
    verdict: AuditVerdict
    clean: bool = False  # set from the verdict
    seconds: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _verdict_and_clean_agree(cls, data: Any) -> Any:
        """Either may be given (reports written before the verdict existed have only ``clean``); they always agree."""
        if isinstance(data, dict) and "verdict" not in data and "clean" in data:
            compared = bool(data.get("outputs") or data.get("metrics"))
            verdict = "nondeterministic" if not data["clean"] else "clean" if compared else "unverified"
            data = {**data, "verdict": verdict}
        if isinstance(data, dict) and "verdict" in data:
            data = {**data, "clean": data["verdict"] == "clean"}
        return data

    @property
    def headline(self) -> str:
        """One line: the verdict and what it rests on."""
        compared = f"{len(self.outputs)} output(s) and {len(self.metrics)} metric(s)"
        if self.verdict == "unverified":
            return (
                f"unverified: nothing to compare in {self.runs} runs (no file written or declared in the project, "
                "no metric or predictions logged)"
            )
        if self.verdict == "clean":
            return f"clean: {compared} the same in all {self.runs} runs"
        differ = len(self.nondeterministic_outputs) + len(self.nondeterministic_metrics)
        return f"nondeterministic: {differ} of {compared} differ between {self.runs} runs"

    @property
    def nondeterministic_outputs(self) -> list[OutputAudit]:
        """The outputs that were not the same every time."""
        return [output for output in self.outputs if not output.consistent]

    @property
    def nondeterministic_metrics(self) -> list[MetricAudit]:
        """The metrics that were not the same every time."""
        return [metric for metric in self.metrics if not metric.consistent]


def audit_command(
    argv: Sequence[str],
    *,
    runs: int = 2,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    seed: int | None = None,
    settings: Settings | None = None,
    echo: bool = False,
) -> AuditReport:
    """Run ``argv`` ``runs`` times as captured runs (same inputs, same seed) and report what differs.

    Args:
        argv: The command.
        runs: How many times (at least 2).
        inputs: Input paths, as for ``reprise run -i``.
        outputs: Declared output paths, as for ``reprise run -o`` (files the command writes are found anyway).
        seed: The seed (default: the project's).
        settings: The project's settings.
        echo: Copy the command's output to stderr.

    Returns:
        Every output and metric across the runs; ``clean`` when all were the same, ``unverified`` when there was
        nothing to compare.

    Raises:
        ConfigError: Fewer than two runs, or no command.
        ReproductionError: A run failed.
    """
    from reprise.config import load_settings

    if not argv:
        raise ConfigError("no command to audit", hint="reprise audit -- python train.py")
    settings = settings or load_settings()
    line = [sys.executable, "-m", "reprise", "run", "--name", _RUN_NAME, "--seed", str(seed or settings.seed)]
    for path in inputs:
        line += ["-i", path]
    for path in outputs:
        line += ["-o", path]
    commands: list[tuple[str | None, list[str]]] = [(None, [*line, "--", *argv])]
    return _audit(" ".join(argv), "command", commands, {}, list(outputs), runs, settings, echo)


def audit_stages(
    stages: Sequence[str], *, runs: int = 2, settings: Settings | None = None, echo: bool = False
) -> AuditReport:
    """Run DVC stages ``runs`` times each (``dvc repro --force --single-item``) and report what differs.

    The work tree is left with the last run's outputs (and ``dvc.lock`` matching them).

    Args:
        stages: Stage names of the project's ``dvc.yaml``, run in this order.
        runs: How many times (at least 2).
        settings: The project's settings.
        echo: Copy DVC's output to stderr.

    Returns:
        Every declared output and metric across the runs, each with its stage; ``clean`` when all were the same.

    Raises:
        ConfigError: Fewer than two runs, or no stage.
        DataError: A stage does not exist.
        ReproductionError: A run failed.
    """
    from reprise.config import load_settings
    from reprise.data.dvc import read_stage

    if not stages:
        raise ConfigError("no stage to audit", hint="reprise audit train")
    settings = settings or load_settings()
    owners: dict[str, str] = {}
    commands: list[tuple[str | None, list[str]]] = []
    for name in stages:
        stage = read_stage(settings.project_dir, name)
        owners.update({out: stage.name for out in stage.outs})
        commands.append((stage.name, [sys.executable, "-m", "dvc", "repro", "--force", "--single-item", stage.name]))
    return _audit(", ".join(stages), "stages", commands, owners, list(owners), runs, settings, echo)


def _audit(
    target: str,
    mode: Literal["command", "stages"],
    commands: list[tuple[str | None, list[str]]],
    owners: dict[str, str],
    declared: list[str],
    runs: int,
    settings: Settings,
    echo: bool,
) -> AuditReport:
    from reprise.capture.written import TreeSnapshot
    from reprise.reproduce._execute import execute
    from reprise.reproduce.suspects import scan_sources
    from reprise.tracking import records

    if runs < 2:
        raise ConfigError(f"an audit needs at least 2 runs, got {runs}", hint="reprise audit --runs 2 -- CMD")
    start = time.perf_counter()
    root = settings.project_dir
    experiment = records.experiment_id(settings)
    hashes: list[dict[str, str | None]] = []
    kept: dict[str, tuple[str, bytes]] = {}
    details: dict[str, str] = {}
    metrics: list[dict[str, float]] = []
    predictions: list[dict[str, str]] = []
    run_ids: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for number in range(1, runs + 1):
        parent = records.create_run(
            settings, experiment, f"audit {number}/{runs}: {target}"[:250], {"reprise.audit": target}
        )
        status = "FAILED"
        try:
            before = TreeSnapshot.take(root)
            env = _env(parent)
            claimed: set[str] = set()
            for stage, command in commands:
                log = settings.state_dir / f"audit-{parent}.log"
                code, tail = execute(command, cwd=root, env=env, log=log, echo=echo)
                if code != 0:
                    raise ReproductionError(
                        f"audit run {number} of {target} exited with code {code}: {tail[-1] if tail else ''}",
                        hint=f"see {log}",
                    )
                if stage is not None:
                    _label_new_runs(settings, parent, stage, claimed)
            written = before.written() if mode == "command" else None  # a stage's outputs are what dvc.yaml says
            seen |= {path for path in written or () if not _bookkeeping(path)}
            seen |= _declared_files(root, declared)
            hashes.append({path: _sha256(root / path) for path in sorted(seen)})
            _keep_first(root, hashes[-1], kept, details)
            tree = records.run_tree(settings, parent)
            metrics.append(records.metric_tree(settings, parent))
            run_ids.append(tuple(run.run_id for label, run in tree.items() if label))
            predictions.append(_fingerprints(settings, tree))
            status = "FINISHED"
        finally:
            records.end_run(settings, parent, status)
    outputs = _output_audits(hashes, owners, details, predictions, mode)
    metric_audits = _metric_audits(metrics, mode)
    same = all(o.consistent for o in outputs) and all(m.consistent for m in metric_audits)
    verdict: AuditVerdict = "nondeterministic" if not same else "clean" if outputs or metric_audits else "unverified"
    return AuditReport(
        target=target,
        mode=mode,
        runs=runs,
        run_ids=tuple(run_ids),
        outputs=tuple(outputs),
        metrics=tuple(metric_audits),
        hints=tuple(scan_sources(root)) if verdict == "nondeterministic" else (),
        verdict=verdict,
        seconds=round(time.perf_counter() - start, 3),
    )


def _label_new_runs(settings: Settings, parent: str, stage: str, claimed: set[str]) -> None:
    """Label the runs a stage just made under the repetition's run by the stage (whatever their names)."""
    from reprise.tracking import records

    for child in records.child_runs(settings, parent):
        if child.run_id not in claimed:
            claimed.add(child.run_id)
            if _ROLE_TAG not in child.tags:
                records.set_tags(settings, child.run_id, {_ROLE_TAG: stage})


def _declared_files(root: Path, declared: Sequence[str]) -> set[str]:
    """The files now under the declared outputs (a file, or every file in a folder), relative to ``root``."""
    from reprise.capture.written import TreeSnapshot

    found: set[str] = set()
    for out in declared:
        path = posixpath.normpath(Path(out).as_posix())
        if path.startswith("../") or path == ".." or posixpath.isabs(path):
            continue  # not in the project
        if (root / path).is_file():
            found.add(path)
        elif (root / path).is_dir():
            files = TreeSnapshot.take(root / path).files
            inside = files if files is not None else _every_file(root / path)
            found |= {path + "/" + name if path != "." else name for name in inside}
    return found


def _every_file(folder: Path) -> list[str]:
    """Every regular file under ``folder``: a declared output too big to watch is still hashed whole."""
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]


def _env(parent: str) -> dict[str, str]:
    from reprise._offline import ensure_offline

    env = {**os.environ, "MLFLOW_RUN_ID": parent}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("MLFLOW_EXPERIMENT_ID", None)
    ensure_offline(env)
    return env


def _keep_first(
    root: Path, hashes: dict[str, str | None], kept: dict[str, tuple[str, bytes]], details: dict[str, str]
) -> None:
    """Keep the first version of each small comparable file; when a later run changes it, say how it differs."""
    from reprise.reproduce._contents import compare_contents, is_comparable

    for path, sha in hashes.items():
        file = root / path
        if sha is None or not is_comparable(path, file.stat().st_size) or file.stat().st_size > _KEEP_BYTES:
            continue
        if path not in kept:
            kept[path] = (sha, file.read_bytes())
        elif kept[path][0] != sha and path not in details:
            details[path] = compare_contents(path, kept[path][1], file.read_bytes(), atol=0.0, rtol=0.0).detail


def _output_audits(
    hashes: list[dict[str, str | None]],
    owners: dict[str, str],
    details: dict[str, str],
    predictions: list[dict[str, str]],
    mode: str,
) -> list[OutputAudit]:
    paths = sorted(set().union(*hashes)) if hashes else []
    audits = []
    for path in paths:
        values = tuple(run.get(path) for run in hashes)
        known = {value for value in values if value is not None}
        stage = next((owners[out] for out in owners if _under(path, out)), None)
        consistent = len(known) <= 1 and (None not in values or not known)
        audits.append(
            OutputAudit(path=path, stage=stage, sha256=values, consistent=consistent, detail=details.get(path))
        )
    for name in sorted(set().union(*predictions)) if predictions else []:
        values = tuple(run.get(name) for run in predictions)
        stage = name.split("/", 1)[0] if mode == "stages" and name != _ROOT_LABEL else None
        audits.append(
            OutputAudit(path=f"predictions of {name}", stage=stage, sha256=values, consistent=len(set(values)) == 1)
        )
    return audits


def _metric_audits(metrics: list[dict[str, float]], mode: str) -> list[MetricAudit]:
    audits = []
    for name in sorted(set().union(*metrics)) if metrics else []:
        values = tuple(run.get(name) for run in metrics)
        numbers = [value for value in values if value is not None]
        consistent = len(numbers) == len(values) and len({repr(value) for value in numbers}) == 1
        spread = max(numbers) - min(numbers) if numbers else None
        stage = name.split("/", 1)[0] if mode == "stages" and "/" in name else None
        audits.append(MetricAudit(name=name, stage=stage, values=values, consistent=consistent, max_abs_delta=spread))
    return audits


def _fingerprints(settings: Settings, tree: dict[str, RunInfo]) -> dict[str, str]:
    """``{label: sha256}`` of the predictions each run of the tree logged (in its record, else as an artifact)."""
    from reprise.capture.record import fingerprint_predictions
    from reprise.errors import NotFoundError
    from reprise.tracking.records import read_predictions, read_record

    found: dict[str, str] = {}
    for label, run in tree.items():
        try:
            fingerprint = read_record(settings, run.run_id).outputs.predictions
        except NotFoundError:  # a run Reprise did not capture: reprise.log_predictions may still have logged some
            array = read_predictions(settings, run.run_id)
            fingerprint = None if array is None else fingerprint_predictions(array)
        if fingerprint is not None:
            found[label or _ROOT_LABEL] = fingerprint.sha256
    return found


def _bookkeeping(path: str) -> bool:
    """Files git and DVC write about outputs (``dvc.lock``, ``*.dvc``, ``.gitignore``), not outputs themselves."""
    name = path.rsplit("/", 1)[-1]
    return name in ("dvc.lock", ".gitignore") or name.endswith(".dvc")


def _under(path: str, out: str) -> bool:
    return path == out or path.startswith(out.rstrip("/") + "/")


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
