"""How a run is captured tells the truth and composes: the seed the script chose, names that seeding does not fix,
the command that started the process, ``start_run`` joining ``reprise run``, nested runs, and MLflow autologging.

Real git repo, real SQLite MLflow store; scripts run in real subprocesses where the way the process starts matters.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow import MlflowClient

import reprise
from reprise.capture.record import RunRecord

if TYPE_CHECKING:
    from collections.abc import Sequence


def _client(root: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{root / '.reprise' / 'mlflow.db'}")


def _record(root: Path, run_id: str) -> RunRecord:
    return RunRecord.from_json(Path(_client(root).download_artifacts(run_id, "reprise/record.json")).read_text())


def _runs(root: Path) -> list[tuple[str, str, dict[str, str], dict[str, float]]]:
    client = _client(root)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "", order_by=["attributes.start_time ASC"]
    )
    return [(r.info.run_id, r.info.run_name, r.data.tags, r.data.metrics) for r in runs]


def _python(root: Path, argv: Sequence[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *argv], cwd=root, input=stdin, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_seed_a_script_chose_is_the_seed_recorded(tmp_project: Path) -> None:
    reprise.ensure_reproducibility(seed=52)
    with reprise.start_run() as run:
        pass
    assert run.record is not None and run.record.randomness.seed == 52
    assert _client(tmp_project).get_run(run.run_id).data.tags["reprise.seed"] == "52"


def test_global_seeding_does_not_fix_the_run_names_nor_the_users_random_state(tmp_project: Path) -> None:
    import random

    names = []
    for _ in range(2):
        reprise.ensure_reproducibility(seed=42)
        expected = random.Random(42).random()
        with reprise.start_run() as run:
            names.append(_client(tmp_project).get_run(run.run_id).info.run_name)
            assert random.random() == expected  # the script's own draws are what its seed promised
    assert names[0] != names[1]


def test_a_script_records_how_it_was_started(tmp_project: Path) -> None:
    (tmp_project / "pkg").mkdir()
    (tmp_project / "pkg" / "__init__.py").write_text("")
    script = "import reprise\nwith reprise.start_run():\n    print('score 1')\n"
    (tmp_project / "pkg" / "train.py").write_text(script)
    _python(tmp_project / "pkg", ["train.py", "--lr", "0.1"])
    _python(tmp_project, ["-m", "pkg.train"])
    (first, *_), (second, *_) = _runs(tmp_project)
    one, two = _record(tmp_project, first), _record(tmp_project, second)
    assert one.code.command == [sys.executable, "train.py", "--lr", "0.1"] and one.code.workdir == "pkg"
    assert two.code.command == [sys.executable, "-m", "pkg.train"] and two.code.workdir == "."
    assert one.outputs.stdout_kept


def test_an_interactive_session_warns_once_that_it_cannot_be_re_run(tmp_project: Path) -> None:
    script = "import reprise\nfor _ in range(2):\n    with reprise.start_run():\n        pass\n"
    done = _python(tmp_project, ["-"], stdin=script)
    assert done.stderr.count("ReproducibilityWarning") == 1
    assert "cannot be re-run by `reprise reproduce`" in done.stderr
    assert all(_record(tmp_project, run_id).code.command is None for run_id, *_ in _runs(tmp_project))


def test_start_run_joins_reprise_run_and_nested_makes_a_child(tmp_project: Path) -> None:
    script = (
        "import reprise, mlflow\n"
        "with reprise.start_run(params={'alpha': 0.5}) as run:\n"
        "    run.log_metrics({'joined': 1.0})\n"
        "    run.log_predictions([1, 2, 3])\n"
        "with reprise.start_run(run_name='holdout', nested=True) as child:\n"
        "    child.log_metrics({'nested': 2.0})\n"
    )
    (tmp_project / "train.py").write_text(script)
    done = _python(tmp_project, ["-m", "reprise", "run", "--json", "--", sys.executable, "train.py"])
    wrapper = json.loads(done.stdout[done.stdout.index("{\n") :])
    runs = {name: (run_id, tags, metrics) for run_id, name, tags, metrics in _runs(tmp_project)}
    assert len(runs) == 2  # the wrapper and the nested child: the first block made no run of its own
    wrapper_id, _, wrapper_metrics = runs[next(n for n in runs if n != "holdout")]
    assert wrapper_id == wrapper["run_id"] and wrapper_metrics == {"joined": 1.0}
    _, child_tags, child_metrics = runs["holdout"]
    assert child_tags["mlflow.parentRunId"] == wrapper_id and child_metrics == {"nested": 2.0}
    record = _record(tmp_project, wrapper_id)
    assert record.outputs.metrics == {"joined": 1.0}
    assert record.outputs.predictions is not None and record.outputs.predictions.shape == (3,)
    assert _client(tmp_project).get_run(wrapper_id).data.params == {"alpha": "0.5"}


def test_mlflow_autologging_in_the_command_lands_in_the_wrappers_run(tmp_project: Path) -> None:
    script = (
        "import mlflow\n"
        "from sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "mlflow.sklearn.autolog(log_models=False, log_datasets=False)\n"
        "X, y = load_iris(return_X_y=True)\n"
        "with mlflow.start_run():\n"
        "    LogisticRegression(max_iter=200).fit(X, y)\n"
    )
    (tmp_project / "train.py").write_text(script)
    done = _python(tmp_project, ["-m", "reprise", "run", "--json", "--", sys.executable, "train.py"])
    run_id = json.loads(done.stdout[done.stdout.index("{\n") :])["run_id"]
    assert [r[0] for r in _runs(tmp_project)] == [run_id]
    assert "training_accuracy_score" in _record(tmp_project, run_id).outputs.metrics
