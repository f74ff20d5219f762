"""Fidelity scenarios: small projects captured and reproduced through the CLI, each with the verdict it must get.

Shared by ``tests/fidelity/test_fidelity.py`` (one test per scenario) and ``bench/bench_fidelity.py`` (the table and
the totals: detection rate, false alarms on identical re-runs, right first cause). Every scenario builds a real
project (git, DVC, the SQLite MLflow store), captures a run the way a user would (``python train.py`` with
``reprise.start_run``, or ``reprise run -- CMD``), may change something, then runs ``reprise reproduce --json`` and
reads the verdict and the first cause back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: The README's Python example is saved as ``train.py`` exactly as the README shows it.
README = Path(__file__).resolve().parents[2] / "README.md"

_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "GIT_AUTHOR_NAME": "Reprise Tests",
    "GIT_AUTHOR_EMAIL": "tests@reprise.invalid",
    "GIT_COMMITTER_NAME": "Reprise Tests",
    "GIT_COMMITTER_EMAIL": "tests@reprise.invalid",
    # `python` in a recorded command is this interpreter at capture, the reproduction venv's at replay.
    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
}

#: Seeded by reprise.start_run (it joins the wrapper under `reprise run`); logs a metric and predictions, prints.
BOOTSTRAP = """\
import numpy as np
import reprise

SCALE = 1.0
data = np.loadtxt("data/numbers.csv", delimiter=",")
with reprise.start_run(params={"scale": SCALE}, inputs=["data/numbers.csv"]) as run:
    rng = np.random.default_rng(run.seeds.seed)
    rows = rng.choice(len(data), size=len(data), replace=True)
    coef, *_ = np.linalg.lstsq(data[rows, :2], data[rows, 2] * SCALE, rcond=None)
    predictions = data[:, :2] @ coef
    rmse = float(np.sqrt(np.mean((predictions - data[:, 2] * SCALE) ** 2)))
    run.log_metrics({"rmse": rmse})
    run.log_predictions(predictions)
    print(f"rmse {rmse:.6f}")
"""

#: Only prints its score: no MLflow, no declared output.
PRINTS = """\
import numpy as np

data = np.loadtxt("data/numbers.csv", delimiter=",")
rng = np.random.default_rng(int(__import__("os").environ["REPRISE_SEED"]))
print("loaded", len(data), "rows")
print(f"score: {float(data[rng.permutation(len(data))[:50], 2].mean()):.10f}")
"""

UNSEEDED = """\
import numpy as np
import mlflow

value = float(np.random.default_rng().random())
with mlflow.start_run():
    mlflow.log_metrics({"value": value})
"""

#: Sums in as many chunks as OMP_NUM_THREADS says: another thread count, another rounding.
THREADS = """\
import os
import numpy as np
import mlflow

values = np.random.default_rng(0).normal(size=100_003) * 1e3
chunks = np.array_split(values, int(os.environ.get("OMP_NUM_THREADS", "1")))
total = float(sum(float(np.sum(chunk)) for chunk in chunks))
with mlflow.start_run():
    mlflow.log_metrics({"total": total})
"""

#: Reads params.yaml and logs them through start_run.
PARAMS = """\
import numpy as np
import yaml
import reprise

params = yaml.safe_load(open("params.yaml"))
data = np.loadtxt("data/numbers.csv", delimiter=",")
with reprise.start_run(params=params) as run:
    run.log_metrics({"weighted": float(data[:, 2].mean() * params["weight"])})
"""

#: Names its nested run with the clock, as scripts that log per call do.
TIMESTAMPED = """\
import time
import mlflow
import numpy as np

data = np.loadtxt("data/numbers.csv", delimiter=",")
with mlflow.start_run(), mlflow.start_run(run_name=f"fit-{time.time_ns()}", nested=True):
    mlflow.log_metrics({"mean": float(data[:, 2].mean())})
"""

#: Writes a report into reports/ without declaring anything.
REPORTS = """\
import json
from pathlib import Path
import numpy as np

data = np.loadtxt("data/numbers.csv", delimiter=",")
Path("reports").mkdir(exist_ok=True)
Path("reports/summary.json").write_text(json.dumps({"mean": float(data.mean()), "rows": len(data)}))
"""

SILENT = """\
import numpy as np

np.loadtxt("data/numbers.csv", delimiter=",")
print("done")
"""


#: Executes a notebook the way Jupyter Server does: a kernel of this interpreter in the notebook's folder, told the
#: notebook's path by ``JPY_SESSION_NAME``. Run as ``python -c RUN_LIKE_JUPYTER NB.ipynb``; the notebook is not saved.
RUN_LIKE_JUPYTER = """\
import os, sys
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

path = os.path.abspath(sys.argv[1])
kernel = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
folder = {"metadata": {"path": os.path.dirname(path)}}
client = NotebookClient(nbformat.read(path, as_version=4), km=kernel, resources=folder)
client.execute(env={**os.environ, "JPY_SESSION_NAME": path}, cleanup_kc=True)
"""


def notebook(*cells: str) -> str:
    """The text of a notebook (nbformat 4) made of these code cells."""
    import nbformat

    return str(nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])))


def readme_example() -> str:
    """The first Python block of the README (the ``reprise.start_run`` example)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    example = next(block for block in blocks if "reprise.start_run" in block)
    return str(example)


@dataclass(frozen=True)
class Scenario:
    """One way of capturing a run, one thing changed (or none), and the verdict and first cause it must get.

    Attributes:
        name: Short id.
        files: Project files, committed before the capture.
        capture: The command a user types in the project (``reprise ...`` runs this checkout's CLI).
        expected_verdict: identical, within_tolerance, different, unverified, or refused (the reproduction stops
            before running, naming what is wrong).
        expected_cause: The kind of the first cause (None when no cause is expected).
        reproduce: Flags of ``reprise reproduce``.
        dirty: Files written (not committed) before the capture.
        change: Done to the project after the capture.
        capture_env: Extra environment variables of the capture.
    """

    name: str
    files: dict[str, str]
    capture: tuple[str, ...]
    expected_verdict: str
    expected_cause: str | None = None
    reproduce: tuple[str, ...] = ("--in-place",)
    dirty: dict[str, str] = field(default_factory=dict)
    change: Callable[[Path], None] | None = None
    capture_env: dict[str, str] = field(default_factory=dict)

    @property
    def detects_a_change(self) -> bool:
        """Something was changed on purpose: the verdict must not be identical."""
        return self.expected_verdict not in ("identical", "unverified")


@dataclass(frozen=True)
class Outcome:
    """What ``reprise reproduce`` answered."""

    verdict: str
    first_cause: str | None
    exit_code: int
    headline: str
    result: dict[str, object] = field(default_factory=dict)


def _flip_a_byte(root: Path) -> None:
    path = root / "data" / "numbers.csv"
    data = bytearray(path.read_bytes())
    data[5] = ord("7") if data[5] != ord("7") else ord("3")
    path.write_bytes(bytes(data))


def _change_code(root: Path) -> None:
    path = root / "train.py"
    path.write_text(path.read_text().replace("SCALE = 1.0", "SCALE = 1.5"))
    _git(root, "commit", "-q", "-am", "scale 1.5")


def _change_params(root: Path) -> None:
    (root / "params.yaml").write_text("weight: 3.0\n")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("identical re-run", {"train.py": BOOTSTRAP}, ("reprise", "run", "--", "python", "train.py"), "identical"),
    Scenario(
        "start_run run plainly (README example)",
        {"train.py": "<readme>"},
        ("python", "train.py"),
        "identical",
        reproduce=(),
    ),
    Scenario(
        "package version changed (--with)",
        {"train.py": "<readme>"},
        ("python", "train.py"),
        "different",
        "packages",
        reproduce=("--with", "scikit-learn==1.7.2"),
    ),
    Scenario(
        "data byte flipped",
        {"train.py": BOOTSTRAP},
        ("reprise", "run", "-i", "data/numbers.csv", "--", "python", "train.py"),
        "refused",
        "data",
        change=_flip_a_byte,
    ),
    Scenario(
        "code change",
        {"train.py": BOOTSTRAP},
        ("reprise", "run", "--", "python", "train.py"),
        "different",
        "code",
        change=_change_code,
    ),
    Scenario(
        "parameter change",
        {"train.py": PARAMS, "params.yaml": "weight: 2.0\n"},
        ("reprise", "run", "--", "python", "train.py"),
        "different",
        "params",
        change=_change_params,
    ),
    Scenario(
        "unseeded script",
        {"train.py": UNSEEDED},
        ("reprise", "run", "--", "python", "train.py"),
        "different",
        "nondeterminism",
    ),
    Scenario(
        "thread-count change (--env)",
        {"train.py": THREADS},
        ("reprise", "run", "--", "python", "train.py"),
        "within_tolerance",
        "threads",
        reproduce=("--in-place", "--env", "OMP_NUM_THREADS=3"),
        capture_env={"OMP_NUM_THREADS": "1"},
    ),
    Scenario(
        "dirty tree",
        {"train.py": BOOTSTRAP},
        ("reprise", "run", "--", "python", "train.py"),
        "identical",
        reproduce=(),
        dirty={"train.py": BOOTSTRAP.replace("SCALE = 1.0", "SCALE = 2.0")},
    ),
    Scenario(
        "script that only prints its score",
        {"score.py": PRINTS},
        ("reprise", "run", "--", "python", "score.py"),
        "identical",
    ),
    Scenario(
        "start_run wrapped, same experiment",
        {"train.py": "<readme>"},
        ("reprise", "run", "--", "python", "train.py"),
        "identical",
    ),
    Scenario(
        "start_run wrapped, another experiment",
        {"train.py": "<readme>"},
        ("reprise", "run", "-e", "elsewhere", "--", "python", "train.py"),
        "identical",
    ),
    Scenario(
        "runs named with a timestamp",
        {"train.py": TIMESTAMPED},
        ("reprise", "run", "--", "python", "train.py"),
        "identical",
    ),
    Scenario(
        "output folder holding a stale file",
        {"report.py": REPORTS},
        ("reprise", "run", "-o", "reports", "--", "python", "report.py"),
        "identical",
        reproduce=(),
        dirty={"reports/old.csv": "a,b\n1,2\n"},
    ),
    Scenario(
        "nothing to compare", {"silent.py": SILENT}, ("reprise", "run", "--", "python", "silent.py"), "unverified"
    ),
    Scenario(
        "start_run from a notebook",
        {"train.ipynb": notebook(*BOOTSTRAP.split("\n\n"))},  # imports, then the run: two cells
        ("python", "-c", RUN_LIKE_JUPYTER, "train.ipynb"),
        "identical",
    ),
)


def build_project(root: Path, scenario: Scenario, mlflow_db: Path | None = None) -> Path:
    """Make ``root`` a committed Reprise project holding the scenario's files and a DVC-tracked data file."""
    import numpy as np

    from reprise.project import init_project

    init_project(root)
    if mlflow_db is not None:
        shutil.copyfile(mlflow_db, root / ".reprise" / "mlflow.db")
    (root / "data").mkdir()
    rows = np.random.default_rng(0).normal(size=(200, 3))
    np.savetxt(root / "data" / "numbers.csv", rows, delimiter=",", fmt="%.10f")
    _run(root, [sys.executable, "-m", "dvc", "add", "-q", "data/numbers.csv"])
    for name, text in scenario.files.items():
        (root / name).write_text(readme_example() if text == "<readme>" else text)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", scenario.name)
    for name, text in scenario.dirty.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def capture(root: Path, scenario: Scenario) -> str:
    """Capture the scenario's run as a user would and return its run id."""
    argv = list(scenario.capture)
    argv = [sys.executable, "-m", "reprise", *argv[1:]] if argv[0] == "reprise" else [sys.executable, *argv[1:]]
    _run(root, argv, scenario.capture_env)
    return _latest_captured(root)


def reproduce(root: Path, scenario: Scenario, run_id: str) -> Outcome:
    """``reprise reproduce RUN --json -q`` with the scenario's flags: the verdict and first cause."""
    if scenario.change is not None:
        scenario.change(root)
    argv = [sys.executable, "-m", "reprise", "reproduce", run_id, "--json", "-q", *scenario.reproduce]
    done = _run(root, argv, check=False)
    lines = done.stderr.strip().splitlines()
    result = json.loads(done.stdout[done.stdout.index("{\n") :]) if "{\n" in done.stdout else {}
    if "error" in result or not result:  # refused before any re-run: --json prints the error object
        cause = "data" if "inputs" in done.stderr or "data/" in done.stderr else None
        return Outcome("refused", cause, done.returncode, lines[-1] if lines else "")
    causes = result["explanation"]["causes"]
    first = causes[0]["kind"] if causes else None
    return Outcome(str(result["verdict"]), first, done.returncode, lines[-1] if lines else "", result)


def run_scenario(root: Path, scenario: Scenario, mlflow_db: Path | None = None) -> Outcome:
    """Build, capture and reproduce one scenario in ``root`` (a folder that does not exist yet)."""
    build_project(root, scenario, mlflow_db)
    return reproduce(root, scenario, capture(root, scenario))


def _latest_captured(root: Path) -> str:
    """The newest captured run of the project at ``root``, in any experiment (a plain MlflowClient query)."""
    from mlflow import MlflowClient

    from reprise.config import load_settings

    client = MlflowClient(load_settings(root).tracking_uri)
    runs = client.search_runs(
        [experiment.experiment_id for experiment in client.search_experiments()],
        "tags.`reprise.record_version` != ''",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return str(runs[0].info.run_id)


def _git(root: Path, *args: str) -> None:
    _run(root, ["git", *args])


def _run(
    root: Path, argv: list[str], env: dict[str, str] | None = None, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv,
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **_ENV, **(env or {})},
        timeout=600,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:6])} exited {done.returncode}: {done.stderr[-2000:]}")
    return done
