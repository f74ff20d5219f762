"""XGBoost models with native categories, as users log them, predict once loaded: through ``mlflow.pyfunc`` (from
pandas categories and from plain strings) and through ``reprise serve`` over HTTP (JSON strings and nulls).

The data is California-housing-like (no download): numbers with missing values and an ``ocean_proximity``
category with missing values, as XGBoost's ``enable_categorical=True`` takes them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

import reprise
from reprise.config import load_settings

from .test_serve_http import _GIT, _serving, _wait_ready

pytestmark = [
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

_OCEAN = ["<1H OCEAN", "INLAND", "NEAR OCEAN", "NEAR BAY", "ISLAND"]


def _housing(seed: int, rows: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    """Features like California housing's (a tenth of two columns missing) and a price-like target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "median_income": rng.gamma(4.0, 1.0, rows),
            "housing_median_age": rng.integers(1, 52, rows).astype(float),
            "total_bedrooms": rng.normal(500, 150, rows).round(),
            "latitude": rng.uniform(32.5, 42.0, rows),
            "ocean_proximity": pd.Categorical(
                rng.choice(_OCEAN, rows, p=[0.4, 0.3, 0.15, 0.14, 0.01]), categories=_OCEAN
            ),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "total_bedrooms"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "ocean_proximity"] = np.nan
    inland = (frame["ocean_proximity"] == "INLAND").to_numpy()
    target = 40_000 * frame["median_income"] - 60_000 * inland + rng.normal(0, 10_000, rows)
    return frame, target


def _model(kind: str, frame: pd.DataFrame, target: pd.Series, seed: int) -> Any:
    from xgboost import XGBClassifier, XGBRegressor

    options = {"enable_categorical": True, "tree_method": "hist", "n_estimators": 30, "max_depth": 4}
    if kind == "classifier":
        return XGBClassifier(**options, random_state=seed).fit(frame, (target > target.median()).astype(int))
    return XGBRegressor(**options, random_state=seed).fit(frame, target)


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame a JSON request becomes: the category column as Python strings and None in an object column."""
    records = json.loads(frame.to_json(orient="records"))
    return pd.DataFrame(records, columns=frame.columns).astype({"ocean_proximity": object})


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_a_logged_xgboost_model_with_categories_predicts_from_categories_and_strings(
    tmp_project: Path, tmp_path: Path, kind: str, global_seed: int
) -> None:
    frame, target = _housing(global_seed)
    test = frame.iloc[::7]
    assert test["ocean_proximity"].isna().any() and test["total_bedrooms"].isna().any()
    model = _model(kind, frame, target, global_seed)
    with reprise.start_run("housing", autolog=False):
        logged = reprise.log_model(model, frame.head(5))
    expected = model.predict(test)

    pyfunc = mlflow.pyfunc.load_model(logged.model_uri)
    np.testing.assert_array_equal(pyfunc.predict(test), expected)
    np.testing.assert_array_equal(pyfunc.predict(_as_strings(test)), expected)
    np.testing.assert_array_equal(pyfunc.predict(test.astype({"ocean_proximity": "str"})), expected)
    # Still an XGBoost model in XGBoost's own format for whoever loads it as one.
    np.testing.assert_array_equal(mlflow.xgboost.load_model(logged.model_uri).predict(test), expected)

    local = Path(mlflow.artifacts.download_artifacts(logged.model_uri, dst_path=str(tmp_path)))
    meta = mlflow.models.Model.load(str(local))
    conf = meta.flavors["python_function"]
    assert conf["loader_module"] == "reprise.tracking.xgboost_categories"
    assert conf["categories"] == {"ocean_proximity": _OCEAN}
    assert meta.flavors["xgboost"]["model_format"] == "ubj"
    inputs = {column["name"]: column["type"] for column in meta.signature.inputs.to_dict()}
    assert inputs == {
        "median_income": "double",
        "housing_median_age": "double",
        "total_bedrooms": "double",
        "latitude": "double",
        "ocean_proximity": "any",
    }
    assert not [path.name for path in local.rglob("*") if path.suffix in {".pkl", ".pickle", ".cloudpickle"}]
    pins = (local / "requirements.txt").read_text().split()
    assert f"reprise=={reprise.__version__}" in pins
    assert any(pin.startswith("xgboost") for pin in pins)


def test_a_value_outside_the_training_categories_is_a_missing_one(tmp_project: Path, global_seed: int) -> None:
    frame, target = _housing(global_seed)
    model = _model("regressor", frame, target, global_seed)
    with reprise.start_run("housing", autolog=False):
        logged = reprise.log_model(model, frame.head(5))
    rows = _as_strings(frame.head(3))
    missing = rows.assign(ocean_proximity=None)
    unseen = rows.assign(ocean_proximity="MOON BASE")
    pyfunc = mlflow.pyfunc.load_model(logged.model_uri)
    np.testing.assert_array_equal(pyfunc.predict(unseen), pyfunc.predict(missing))
    none = pd.Categorical([None] * 3, categories=_OCEAN)
    np.testing.assert_array_equal(pyfunc.predict(missing), model.predict(frame.head(3).assign(ocean_proximity=none)))


def test_reprise_serve_answers_json_strings_and_nulls_as_the_model_in_memory(
    tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path, global_seed: int
) -> None:
    root = tmp_path_factory.mktemp("serve-categories") / "project"
    reprise.init_project(root)
    shutil.copyfile(mlflow_db_template, root / ".reprise" / "mlflow.db")
    subprocess.run([*_GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*_GIT, "commit", "-q", "-m", "init"], cwd=root, check=True)
    settings = load_settings(root, environ={})
    frame, target = _housing(global_seed)
    model = _model("classifier", frame, target, global_seed)
    with reprise.start_run("housing", settings=settings, autolog=False) as run:
        logged = reprise.log_model(model, frame.head(5))
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    client.create_registered_model("housing")
    client.create_model_version("housing", logged.model_uri, run_id=run.run_id)
    client.set_registered_model_alias("housing", "champion", "1")
    test = frame.iloc[::9]
    records = json.loads(test.to_json(orient="records"))
    assert any(record["ocean_proximity"] is None for record in records)
    assert any(record["total_bedrooms"] is None for record in records)

    with _serving(root, "housing@champion") as (process, server):
        _wait_ready(process, server)
        with server.client() as http:
            info = http.get("/model/info").json()
            batch = http.post("/predict/batch", json={"records": records})
            single = http.post("/predict", json=records[0])
            wrong = http.post("/predict", json={**records[0], "ocean_proximity": 3})

    assert batch.status_code == 200, batch.text
    assert batch.json()["predictions"] == model.predict(test).tolist()
    proba = [[row[label] for label in ("0", "1")] for row in batch.json()["probabilities"]]
    assert proba == model.predict_proba(test).tolist()
    assert single.json()["prediction"] == batch.json()["predictions"][0]
    assert {column["name"]: column["type"] for column in info["inputs"]}["ocean_proximity"] == "string"
    assert wrong.status_code == 422, wrong.text
