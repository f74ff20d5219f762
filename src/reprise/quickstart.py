"""``reprise quickstart``: write out the example project, then run its DVC pipeline stage by stage.

The project (``reprise/templates/quickstart``) is a real one: data in ``data/raw`` tracked by DVC, ``params.yaml``,
a four-stage ``dvc.yaml`` whose stages run under ``reprise run``. The whole pipeline runs inside one captured parent
run, so every stage run, and every candidate model under the train stage, hangs off it in MLflow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from reprise._git import run_git
from reprise._offline import ensure_offline
from reprise.config import load_settings
from reprise.errors import ConfigError, PipelineError
from reprise.project import init_project

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["RAW_DATA_VERSION", "STAGES", "QuickstartResult", "StageResult", "run_pipeline", "write_project"]

Task = Literal["classification", "regression"]

#: The pipeline's stages, in the order they run.
STAGES: Final = ("prepare", "featurize", "train", "evaluate")
#: The data version the quickstart records its raw data as (``reprise data list`` shows it).
RAW_DATA_VERSION: Final = "raw@v1"

_TEMPLATE_FILES: Final = ("dvc.yaml", "README.md", "src/common.py", "src/prepare.py", "src/featurize.py",
                          "src/train.py", "src/evaluate.py")  # fmt: skip
_RUN_LINE: Final = re.compile(r"^run [0-9a-f]{32} ")
#: How ``dvc repro`` announces a stage: running it, or skipping it as unchanged or cached.
_STAGE_LINE: Final = re.compile(
    r"^(?:Running stage '(?P<stage>[\w-]+)'|Stage '(?P<stage2>[\w-]+)' (?P<skipped>didn't change|is cached))"
)
_GIT_IDENTITY: Final = ("-c", "user.name=Reprise quickstart", "-c", "user.email=quickstart@reprise.invalid")


@dataclass(frozen=True)
class StageResult:
    """One stage's outcome: its name, wall time and whether DVC ran it or found it up to date."""

    name: str
    seconds: float
    ran: bool


@dataclass(frozen=True)
class QuickstartResult:
    """What the quickstart produced.

    Attributes:
        project_dir: The project folder.
        task: ``classification`` or ``regression``.
        stages: Each stage's outcome, in order.
        best: The contents of ``best_model_info.json`` (best candidate, its run, model URI, metrics, candidates).
        pipeline_run_id: The MLflow run every stage run hangs off.
        tracking_uri: Where the runs are.
        registered_model: The registry name the train stage registers the best model under.
    """

    project_dir: Path
    task: str
    stages: list[StageResult] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    pipeline_run_id: str | None = None
    tracking_uri: str = ""
    registered_model: str = ""


def write_project(directory: Path, *, task: Task = "classification", force: bool = False) -> Path:
    """Write the example project into ``directory``, make it a Reprise project and commit it.

    Args:
        directory: Where to write; must be empty or absent unless ``force``.
        task: ``classification`` (breast-cancer data) or ``regression`` (diabetes data); both ship with scikit-learn.
        force: Write into a non-empty folder, overwriting the template's own files.

    Returns:
        The project root.

    Raises:
        ConfigError: ``directory`` is not empty and ``force`` is off, or ``task`` is unknown.
    """
    if task not in ("classification", "regression"):
        raise ConfigError(f"unknown task {task!r}", hint="use --task classification or --task regression")
    root = directory.resolve()
    if root.exists() and any(root.iterdir()) and not force:
        raise ConfigError(f"{directory} is not empty", hint=f"pick an empty folder or add --force: {directory}")
    template = resources.files("reprise.templates").joinpath("quickstart")
    for name in _TEMPLATE_FILES:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(template.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
    (root / "params.yaml").write_text(template.joinpath(f"params.{task}.yaml").read_text(encoding="utf-8"))
    if not (root / ".git").exists():
        run_git(root, ["init", "-q"])  # its own repository, even inside another one: the example stands alone
    init_project(root)
    _write_dataset(root / "data" / "raw" / "data.csv", task)
    _version_raw_data(root)
    run_git(root, ["add", "-A"])
    if run_git(root, ["status", "--porcelain"]).stdout.strip():
        run_git(root, [*_GIT_IDENTITY, "commit", "-q", "-m", f"Reprise quickstart ({task})"])
    return root


def run_pipeline(
    project_dir: Path, *, on_stage: Callable[[str, StageResult | None], None] | None = None
) -> QuickstartResult:
    """Run the project's DVC pipeline (one ``dvc repro``) inside one captured parent run.

    Args:
        project_dir: A project written by :func:`write_project` (or any project with those stages).
        on_stage: Called with ``(stage, None)`` when a stage starts and ``(stage, result)`` when it ends.

    Raises:
        PipelineError: A stage failed; the message names it and its last error line, the project is left as is.
    """
    from reprise.tracking.runs import start_run

    ensure_offline()
    settings = load_settings(project_dir)
    params = _read_yaml(project_dir / "params.yaml")
    with start_run(run_name="pipeline", command=["dvc", "repro"], autolog=False, settings=settings) as parent:
        env = {**os.environ, "MLFLOW_RUN_ID": parent.run_id, "PATH": _path_with_this_python()}
        env.pop("MLFLOW_EXPERIMENT_ID", None)
        results = _repro(project_dir, env, on_stage)
    best_file = project_dir / "best_model_info.json"
    best = json.loads(best_file.read_text()) if best_file.exists() else {}
    return QuickstartResult(
        project_dir=project_dir,
        task=str(params.get("task", "")),
        stages=results,
        best=best,
        pipeline_run_id=parent.run_id,
        tracking_uri=settings.tracking_uri,
        registered_model=str(params.get("train", {}).get("registered_model", "")),
    )


def _repro(
    root: Path, env: dict[str, str], on_stage: Callable[[str, StageResult | None], None] | None
) -> list[StageResult]:
    """Run ``dvc repro`` once (one DVC start-up for the four stages), following its output stage by stage.

    DVC announces each stage (``Running stage 'x':``, or that it is up to date) before running it: a stage ends
    where the next one is announced, or where DVC exits.
    """
    results: list[StageResult] = []
    lines: list[str] = []
    current: tuple[str, float, bool] | None = None

    def finish() -> None:
        if current is not None:
            stage, started, ran = current
            results.append(StageResult(name=stage, seconds=time.perf_counter() - started, ran=ran))
            if on_stage is not None:
                on_stage(stage, results[-1])

    argv = [sys.executable, "-m", "dvc", "repro"]
    with subprocess.Popen(
        argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            found = _STAGE_LINE.match(line)
            stage = found and (found["stage"] or found["stage2"])
            if found is None or stage not in STAGES:
                continue
            finish()
            current = (stage, time.perf_counter(), found["skipped"] is None)
            if on_stage is not None:
                on_stage(stage, None)
            lines.clear()  # what the failing stage said is all the error message needs
    if process.returncode != 0:
        stage = current[0] if current is not None else "repro"
        # The stage's own last words, not DVC's "failed to reproduce" or Reprise's "run ... failed" lines.
        said = [
            line
            for line in lines
            if line.strip() and not line.startswith("ERROR: failed to reproduce") and not _RUN_LINE.match(line)
        ]
        reason = said[-1] if said else "no output"
        raise PipelineError(
            f"stage '{stage}' failed (exit {process.returncode}): {reason.strip()}",
            hint=f"cd {root} && dvc repro {stage}   # the project is left as it is for inspection",
        )
    finish()
    return results


def _write_dataset(path: Path, task: Task) -> None:
    from sklearn.datasets import load_breast_cancer, load_diabetes

    loader = load_breast_cancer if task == "classification" else load_diabetes
    frame = loader(as_frame=True).frame
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.columns = [str(column).replace(" ", "_") for column in frame.columns]
    frame.to_csv(path, index=False)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _version_raw_data(root: Path) -> None:
    """Track the raw data as the data version :data:`RAW_DATA_VERSION`, where lineage starts (once per store).

    The dataset is generated the same way every time, so a project written again over itself keeps its version.
    """
    from reprise.data.versions import list_data_versions, version_data

    settings = load_settings(root)
    if all(version.name != RAW_DATA_VERSION for version in list_data_versions(settings=settings)):
        version_data(root / "data" / "raw" / "data.csv", version_name=RAW_DATA_VERSION, settings=settings)


def _path_with_this_python() -> str:
    """PATH with this interpreter's bin folder first, so stage commands find ``reprise`` and ``python`` here."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
