"""``ServableModel``: rows to a typed DataFrame, predictions and probabilities, on scikit-learn models (no MLflow)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from reprise.tracking.serving import ColumnSpec, ModelSpec, ServableModel


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
