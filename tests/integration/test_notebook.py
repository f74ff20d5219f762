"""A run started in a Jupyter notebook records the command that re-runs the notebook, and reproduces identically.

The notebook is executed as Jupyter Server executes it (a kernel of this interpreter, told the notebook's path by
``JPY_SESSION_NAME``), in a subprocess: importing ipykernel into the test process would make every later in-process
``start_run`` of this worker look like a notebook's. Real git, DVC, SQLite MLflow store, kernels and venvs.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from reprise.capture.record import RunRecord

sys.path.insert(0, str(Path(__file__).parents[1] / "fidelity"))
from fidelity_scenarios import RUN_LIKE_JUPYTER, notebook

#: Imports, then a seeded computation in a run that logs a metric and prints it.
CELLS = (
    "import numpy as np\nimport reprise",
    "with reprise.start_run(params={'size': 1000}) as run:\n"
    "    values = np.random.default_rng(run.seeds.seed).normal(size=1000)\n"
    "    mean = float(values.mean())\n"
    "    run.log_metrics({'mean': mean})\n"
    "    print(f'mean {mean:.12f}')",
)
RUNNER = "reprise.capture.notebook"


def _client(root: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{root / '.reprise' / 'mlflow.db'}")


def _record(root: Path, run_id: str) -> RunRecord:
    return RunRecord.from_json(Path(_client(root).download_artifacts(run_id, "reprise/record.json")).read_text())


def _python(root: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, *argv], cwd=root, capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def _capture(root: Path) -> str:
    """Commit the notebook, run it like Jupyter, and return the id of the run it made."""
    (root / "train.ipynb").write_text(notebook(*CELLS))
    subprocess.run(["git", "add", "train.ipynb"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "notebook"], cwd=root, check=True)
    done = _python(root, "-c", RUN_LIKE_JUPYTER, "train.ipynb")
    assert "ReproducibilityWarning" not in done.stderr
    client = _client(root)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return str(run.info.run_id)


def _reproduce(root: Path, run_id: str, *flags: str) -> dict[str, Any]:
    done = _python(root, "-m", "reprise", "reproduce", run_id, "--json", "-q", *flags)
    result: dict[str, Any] = json.loads(done.stdout[done.stdout.index("{\n") :])
    return result


@pytest.mark.timeout(300)
def test_a_notebook_run_records_its_notebook_and_reproduces_identically(tmp_project: Path) -> None:
    run_id = _capture(tmp_project)
    record = _record(tmp_project, run_id)
    digest = hashlib.sha256((tmp_project / "train.ipynb").read_bytes()).hexdigest()
    assert record.code.command == [sys.executable, "-m", RUNNER, "train.ipynb"]
    assert record.code.notebook_sha256 == digest
    assert record.outputs.stdout_kept and set(record.outputs.metrics) == {"mean"}
    for flags in (("--in-place",), ()):  # in this checkout, then in a worktree with a fresh venv built by uv
        result = _reproduce(tmp_project, run_id, *flags)
        assert (result["verdict"], result["mode"]) == ("identical", "isolated" if not flags else "in_place"), result
        assert [(m["name"], m["status"]) for m in result["comparison"]["metrics"]] == [("mean", "identical")]
        assert result["explanation"]["causes"] == []
        again = _record(tmp_project, result["reproduction_run_id"])  # the re-run ran the notebook itself
        assert again.code.command is not None and again.code.command[1:] == ["-m", RUNNER, "train.ipynb"]
        assert again.code.notebook_sha256 == digest
    # No run wrote the executed notebook back over the user's file.
    assert hashlib.sha256((tmp_project / "train.ipynb").read_bytes()).hexdigest() == digest


def test_the_runner_names_the_cell_that_raised_and_leaves_the_notebook_alone(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text(notebook("print('before', 1)", "x = 1 / 0", "print('never')"))
    before = path.read_bytes()
    done = _python(tmp_path, "-m", RUNNER, "broken.ipynb", check=False)
    assert done.returncode == 1
    assert done.stdout == "before 1\n"
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: broken.ipynb: cell 2 ('x = 1 / 0') raised ZeroDivisionError: division by zero")
    )
    assert path.read_bytes() == before
