"""Autologging in ``start_run``: MLflow's params and training metrics, the fitted model logged once by Reprise's
rules (skops, pinned requirements), against a real git repo and a real MLflow SQLite store.

Scripts run in fresh processes, as users run them: what is autologged depends on what the process imported.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.utils.autologging_utils import autologging_is_disabled

import reprise
from reprise.config import load_settings

# Not ours to fix: MLflow 3.17's training metrics call log_loss(y_pred=...), which scikit-learn 1.9 renamed (in a
# script it is a printed FutureWarning; here an error MLflow swallows, and the metrics would be missing).
pytestmark = [
    pytest.mark.filterwarnings("ignore:`y_pred` was renamed to `y_proba`:FutureWarning"),
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"),
]

_SCRIPT = """\
import sys
from mlflow.utils.autologging_utils import autologging_is_disabled
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
import reprise

X, y = load_iris(return_X_y=True, as_frame=True)
with reprise.start_run(autolog={autolog}) as run:
    model = RandomForestClassifier(n_estimators=7, random_state=0).fit(X, y)
print(run.run_id, model.score(X, y), "disabled" if autologging_is_disabled("sklearn") else "enabled")
"""


def _client() -> MlflowClient:
    return MlflowClient(tracking_uri=load_settings().tracking_uri)


def _models(run_id: str) -> list[str]:
    """The ids of the models logged in ``run_id``, as MLflow links them to the run."""
    run = _client().get_run(run_id)
    return [output.model_id for output in (run.outputs.model_outputs if run.outputs else [])]


def _script(root: Path, autolog: bool, *wrapper: str) -> tuple[str, float, str]:
    """Run the script (under ``wrapper``): its run id, its model's accuracy, and whether autologging is left on."""
    (root / "train.py").write_text(_SCRIPT.format(autolog=autolog))
    argv = [*wrapper, sys.executable, "train.py"]
    done = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    run_id, accuracy, state = done.stdout.split()[-3:]
    return run_id, float(accuracy), state


def test_a_script_fitting_a_forest_gets_its_params_metrics_and_one_skops_model(tmp_project: Path) -> None:
    run_id, accuracy, state = _script(tmp_project, True)
    run = _client().get_run(run_id)
    assert run.data.params["n_estimators"] == "7"
    assert run.data.params["random_state"] == "0"
    assert run.data.metrics["training_accuracy_score"] == accuracy
    (model_id,) = _models(run_id)
    location = _client().get_logged_model(model_id).artifact_location
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(tmp_project / "dl")))
    flavor = mlflow.models.Model.load(str(local)).flavors["sklearn"]
    assert flavor["serialization_format"] == "skops"
    pins = (local / "requirements.txt").read_text().split()
    assert f"scikit-learn=={importlib.metadata.version('scikit-learn')}" in pins
    assert f"mlflow=={importlib.metadata.version('mlflow')}" in pins
    assert all("==" in pin for pin in pins)
    assert state == "disabled"
    assert run.info.status == "FINISHED"


def test_autolog_false_logs_none_of_it(tmp_project: Path) -> None:
    run_id, _, state = _script(tmp_project, False)
    run = _client().get_run(run_id)
    assert run.data.params == {}
    assert not [key for key in run.data.metrics if key.startswith("training_")]
    assert _models(run_id) == []
    assert state == "disabled"


def test_inside_reprise_run_the_model_lands_once_in_the_wrappers_run(tmp_project: Path) -> None:
    run_id, _, _ = _script(tmp_project, True, sys.executable, "-m", "reprise", "run", "--")
    runs = _client().search_runs([_client().get_run(run_id).info.experiment_id])
    assert [run.info.run_id for run in runs] == [run_id]  # joined: no second run
    assert len(_models(run_id)) == 1
    assert _client().get_run(run_id).data.params["n_estimators"] == "7"


def test_a_model_the_block_logs_itself_is_the_only_one(tmp_project: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    with reprise.start_run() as run:
        model = LogisticRegression(max_iter=300).fit(X, y)
        logged = reprise.log_model(model, X.head(5), name="mine")
    assert _models(run.run_id) == [logged.model_uri.removeprefix("models:/")]


def test_the_pipeline_is_logged_not_its_steps_and_autologging_ends_with_the_block(tmp_project: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True, as_frame=True)
    assert autologging_is_disabled("sklearn")
    with reprise.start_run() as run:
        assert not autologging_is_disabled("sklearn")
        pipeline = make_pipeline(StandardScaler(), RandomForestClassifier(5, random_state=0)).fit(X, y)
    assert autologging_is_disabled("sklearn")
    (model_id,) = _models(run.run_id)
    loaded = mlflow.sklearn.load_model(f"models:/{model_id}")
    assert type(loaded).__name__ == "Pipeline"
    assert (loaded.predict(X) == pipeline.predict(X)).all()
    with mlflow.start_run() as after:  # autologging no longer reaches a plain MLflow run
        RandomForestClassifier(3, random_state=0).fit(X, y)
    assert _client().get_run(after.info.run_id).data.params == {}


def test_a_failed_block_logs_no_model(tmp_project: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    with pytest.raises(RuntimeError, match="after the fit"), reprise.start_run() as run:
        DecisionTreeClassifier(random_state=0).fit(X, y)
        raise RuntimeError("after the fit")
    assert _client().get_run(run.run_id).info.status == "FAILED"
    assert _models(run.run_id) == []
    assert autologging_is_disabled("sklearn")
