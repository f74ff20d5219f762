"""Objectives and constraint arithmetic of constrained AutoML, on data generated here (no MLflow, no files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reprise.automl.checks import check_constraints, describe_failures, violations
from reprise.automl.evaluate import evaluate_trial, positive_class, split_data
from reprise.automl.measure import Measurement
from reprise.automl.presets import resolve_constraints


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] + 0.5 * rng.normal(size=300) > 0.8).astype(int)
    return pd.DataFrame(x, columns=["a", "b", "c"]), y


def test_recall_at_precision_falls_as_the_precision_floor_rises() -> None:
    features, target = _data()
    params = {"family": "logistic_regression", "lr_C": 1.0}
    scores = []
    for floor in (0.5, 0.8, 0.95, 1.01):
        constraints = resolve_constraints("quality_control").model_copy(update={"min_precision": floor})
        data = split_data(features, target, constraints, seed=1)
        scores.append(evaluate_trial(params, data, constraints, seed=2).score)
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert scores[-1] == 0.0  # no threshold reaches a precision above 1


def test_a_trial_is_a_pure_function_of_its_parameters_data_and_seed() -> None:
    features, target = _data()
    constraints = resolve_constraints("predictive_maintenance")
    data = split_data(features, target, constraints, seed=1)
    params = {"family": "random_forest", "rf_n_estimators": 15, "rf_max_depth": 5, "rf_min_samples_leaf": 2}
    first, second = (evaluate_trial(params, data, constraints, seed=9).metrics() for _ in range(2))
    assert first == second
    assert set(first) == {"cv_score", "fold_0_score", "fold_1_score", "fold_2_score"}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [([0, 1, 1, 0], 1), ([True, False, False], True), (["ok", "fail", "ok"], "fail")],
    ids=["zero-one", "bool", "rarer-class"],
)
def test_the_positive_class(labels: list[object], expected: object) -> None:
    assert positive_class(np.asarray(labels)) == expected


def test_violations_are_relative_to_each_limit_and_name_the_overrun() -> None:
    constraints = resolve_constraints("anomaly_detection", "edge")
    measured = Measurement(
        size_bytes=12_000_000,
        latency_p50_ms=10.0,
        latency_p95_ms=40.0,
        latency_p99_ms=60.0,
        rows_timed=200,
        stopped_early=False,
        interpretability="opaque",
        model_format="skops",
        threads=1,
    )
    checks = check_constraints(measured, {"cv_false_positive_rate": 0.1}, constraints)
    assert [check.name for check in checks] == ["size_mb", "latency_p95_ms", "false_positive_rate", "interpretability"]
    assert violations(checks) == pytest.approx([0.2, -0.2, 1.0, 1.0])
    assert [check.ok for check in checks] == [False, True, False, False]
    assert describe_failures(checks) == (
        "size_mb 12 MB over the 10 MB limit by 2 MB; false_positive_rate 0.1 over the 0.05 limit by 0.05; "
        "interpretability opaque beyond the explainable limit"
    )
