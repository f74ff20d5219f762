"""``ServableModel``: rows to a typed DataFrame, predictions and probabilities, on scikit-learn models (no MLflow);
``model_format``/``check_loadable``: which stored models load without running code from their files."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from reprise.errors import RegistryError
from reprise.tracking.serving import ColumnSpec, ModelSpec, ServableModel, check_loadable, model_format


class Pyfunc:
    """Stands in for ``mlflow.pyfunc.PyFuncModel``: ``predict`` and ``get_raw_model``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def get_raw_model(self) -> Any:
        return self.model

    def predict(self, frame: Any) -> Any:
        return self.model.predict(frame)


def _iris() -> tuple[Any, Any, ModelSpec]:
    from sklearn.datasets import load_iris

    frame, target = load_iris(return_X_y=True, as_frame=True)
    spec = ModelSpec(
        inputs=tuple(ColumnSpec(str(name), "double") for name in frame.columns),
        output_type="long",
        signature={},
        flavors=("sklearn",),
    )
    return frame, target, spec


def _rows(frame: Any) -> list[dict[str, float]]:
    return [{str(key): float(value) for key, value in row.items()} for _, row in frame.iterrows()]


def test_rows_become_a_frame_with_the_signature_dtypes_and_order() -> None:
    spec = ModelSpec(
        inputs=(
            ColumnSpec("city", "string"),
            ColumnSpec("age", "long"),
            ColumnSpec("smoker", "boolean"),
            ColumnSpec("weight", "float"),
            ColumnSpec("bmi", "double", required=False),
            ColumnSpec("visits", "long", required=False),
            ColumnSpec("children", "integer", required=False),
        ),
        output_type=None,
        signature={},
        flavors=(),
    )
    model = ServableModel(Pyfunc(None), spec)
    rows = [
        {"age": 41, "city": "Lima", "smoker": True, "weight": 70.5, "bmi": None, "visits": None, "children": 2},
        {"age": 7, "city": "Oslo", "smoker": False, "weight": 20.0, "bmi": 16.1, "visits": 3, "children": 0},
    ]
    frame = model.frame(rows)
    assert list(frame.columns) == ["city", "age", "smoker", "weight", "bmi", "visits", "children"]
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert dtypes.pop("city") in ("object", "str")  # pandas 3 infers its string dtype
    assert dtypes == {
        "age": "int64",
        "smoker": "bool",
        "weight": "float32",
        "bmi": "float64",  # a missing optional double is NaN
        "visits": "float64",  # a missing optional integer makes the column float, as pandas would
        "children": "int32",
    }
    assert math.isnan(frame["bmi"][0])
    assert frame["city"].tolist() == ["Lima", "Oslo"]


def test_a_random_forest_answers_like_its_predict_and_predict_proba() -> None:
    from sklearn.ensemble import RandomForestClassifier

    frame, target, spec = _iris()
    forest = RandomForestClassifier(n_estimators=15, random_state=0).fit(frame, target)
    model = ServableModel(Pyfunc(forest), spec)
    answer = model.predict_rows(_rows(frame))
    assert model._argmax  # one predict_proba call gives both
    assert answer.values == forest.predict(frame).tolist()
    expected = forest.predict_proba(frame).tolist()
    assert [[row[label] for label in ("0", "1", "2")] for row in answer.probabilities or []] == expected
    assert model.classes == ("0", "1", "2")
    assert model.model_class == "RandomForestClassifier"


def test_other_classifiers_predict_through_the_pyfunc_and_still_give_probabilities() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, target, spec = _iris()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, target)
    model = ServableModel(Pyfunc(pipeline), spec)
    answer = model.predict_rows(_rows(frame.head(20)))
    assert not model._argmax
    assert answer.values == pipeline.predict(frame.head(20)).tolist()
    assert answer.probabilities is not None
    assert all(sum(row.values()) == pytest.approx(1.0) for row in answer.probabilities)


def test_a_regressor_has_no_probabilities() -> None:
    from sklearn.tree import DecisionTreeRegressor

    frame, target, spec = _iris()
    tree = DecisionTreeRegressor(random_state=0).fit(frame, target.astype(float))
    model = ServableModel(Pyfunc(tree), spec)
    answer = model.predict_rows(_rows(frame.head(5)))
    assert answer.probabilities is None
    assert model.classes is None
    assert answer.values == tree.predict(frame.head(5)).tolist()


def test_a_model_without_a_raw_model_still_predicts() -> None:
    class Opaque:
        def get_raw_model(self) -> Any:
            raise NotImplementedError

        def predict(self, frame: Any) -> Any:
            return np.asarray(frame.sum(axis=1)).reshape(-1, 1)

    _, _, spec = _iris()
    model = ServableModel(Opaque(), spec)
    answer = model.predict_rows([dict.fromkeys((c.name for c in spec.inputs), 1.0)])
    assert (answer.values, answer.probabilities, model.model_class) == ([4.0], None, None)


class MLmodel:
    """Stands in for ``mlflow.models.Model``: only its ``flavors`` are read."""

    def __init__(self, **flavors: dict[str, Any]) -> None:
        self.flavors = flavors


def _pyfunc(loader: str, **extra: Any) -> dict[str, Any]:
    return {"loader_module": loader, "python_version": "3.11", **extra}


def _meta(loader: str, flavor: dict[str, Any] | None = None, **pyfunc: Any) -> MLmodel:
    """An MLmodel whose pyfunc flavour loads through ``mlflow.<name>`` and whose own flavour is ``flavor``."""
    name = loader.removeprefix("mlflow.")
    return MLmodel(python_function=_pyfunc(loader, **pyfunc), **({name: flavor} if flavor is not None else {}))


SKOPS = {"serialization_format": "skops"}
BOOSTER = {"model_class": "lightgbm.basic.Booster"}
LGBM_SKLEARN = {"model_class": "lightgbm.sklearn.LGBMClassifier"}
TREE = "sklearn.tree._tree.Tree"  # what reprise.log_model lists for a random forest


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (_meta("mlflow.sklearn", SKOPS), ("skops", False)),
        (_meta("mlflow.sklearn", {"serialization_format": "cloudpickle"}), ("cloudpickle", True)),
        (_meta("mlflow.sklearn", {}), ("pickle", True)),  # MLflow's default when the flavour does not say
        (_meta("mlflow.xgboost", {"model_format": "json"}), ("xgboost json", False)),
        (_meta("mlflow.lightgbm", BOOSTER), ("lightgbm text", False)),
        (_meta("mlflow.lightgbm", LGBM_SKLEARN), ("lightgbm cloudpickle", True)),
        (_meta("mlflow.pyfunc.model", python_model="python_model.pkl"), ("cloudpickle (python_function model)", True)),
        (_meta("mlflow.pyfunc.model", model_code_path="agent.py"), ("python code (model from code)", True)),
        (_meta("evil_loader"), ("evil_loader (a loader Reprise cannot vouch for)", True)),
        (_meta("mlflow.sklearn", SKOPS, code="code"), ("skops with shipped Python code", True)),
        (_meta("mlflow.sklearn", {**SKOPS, "skops_trusted_types": [TREE]}), ("skops", False)),
        (
            _meta("mlflow.sklearn", {**SKOPS, "skops_trusted_types": ["posix.system", "numpy.load", TREE]}),
            ("skops trusting numpy.load, posix.system", True),
        ),
        (  # a SimpleImputer keeps a numpy.dtype: a lower-case NumPy class that only holds data
            _meta("mlflow.sklearn", {**SKOPS, "skops_trusted_types": ["numpy.dtype", TREE]}),
            ("skops", False),
        ),
        (
            _meta("mlflow.lightgbm", {**LGBM_SKLEARN, **SKOPS, "skops_trusted_types": ["collections.OrderedDict"]}),
            ("lightgbm skops", False),
        ),
        (MLmodel(sklearn=SKOPS), ("no python_function flavour", True)),
    ],
)
def test_only_formats_that_load_without_running_code_are_safe(meta: MLmodel, expected: tuple[str, bool]) -> None:
    assert model_format(meta) == expected


def test_check_loadable_refuses_in_one_line_naming_the_model_its_format_and_the_way_out() -> None:
    pickled = MLmodel(python_function=_pyfunc("mlflow.sklearn"), sklearn={"serialization_format": "cloudpickle"})
    with pytest.raises(RegistryError) as refused:
        check_loadable(pickled, "iris v3", allow_pickle=False)
    message = str(refused.value)
    assert "\n" not in message
    assert all(part in message for part in ("iris v3", "cloudpickle", "--allow-pickle"))
    check_loadable(pickled, "iris v3", allow_pickle=True)
    check_loadable(MLmodel(python_function=_pyfunc("mlflow.xgboost"), xgboost={}), "iris v3", allow_pickle=False)
    _, _, spec = _iris()  # a spec without a known format is not trusted
    with pytest.raises(RegistryError, match="--allow-pickle"):
        check_loadable(spec, "iris v3", allow_pickle=False)
