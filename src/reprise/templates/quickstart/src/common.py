"""What the stages share: parameters, the seed, the candidate models and the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import reprise

ROOT = Path(__file__).resolve().parent.parent
TARGET = "target"
#: Metrics where smaller is better; every other metric is maximised.
LOWER_IS_BETTER = {"rmse", "mae"}


def load_params() -> dict[str, Any]:
    """The pipeline's parameters (params.yaml), the single place to change an experiment."""
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def seeds() -> reprise.SeedConfig:
    """Seed every library from the run's seed (`reprise run --seed ${seed}` passes params.yaml's)."""
    return reprise.ensure_reproducibility(reprise.load_settings().seed)


def candidates(task: str, params: dict[str, Any], seed: reprise.SeedConfig) -> dict[str, Any]:
    """The models to compare, built from params.yaml with the seeded keyword sets."""
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from xgboost import XGBClassifier, XGBRegressor

    classify = task == "classification"
    forest = RandomForestClassifier if classify else RandomForestRegressor
    boosted = XGBClassifier if classify else XGBRegressor
    light = LGBMClassifier if classify else LGBMRegressor
    # n_jobs=1: a forest predicting on several threads sums its trees in completion order (results differ by ~1e-13).
    return {
        "random_forest": forest(n_jobs=1, **params["random_forest"], **seed.sklearn),
        "xgboost": boosted(n_jobs=1, **params["xgboost"], **seed.xgboost),
        "lightgbm": light(n_jobs=1, **params["lightgbm"], **seed.lightgbm),
    }


def score(task: str, truth: Any, predicted: Any) -> dict[str, float]:
    """The metrics of one prediction, by task."""
    from sklearn import metrics

    if task == "classification":
        return {
            "accuracy": metrics.accuracy_score(truth, predicted),
            "f1_macro": metrics.f1_score(truth, predicted, average="macro"),
            "f1_weighted": metrics.f1_score(truth, predicted, average="weighted"),
            "precision_macro": metrics.precision_score(truth, predicted, average="macro", zero_division=0),
            "recall_macro": metrics.recall_score(truth, predicted, average="macro", zero_division=0),
        }
    return {
        "rmse": metrics.root_mean_squared_error(truth, predicted),
        "mae": metrics.mean_absolute_error(truth, predicted),
        "r2": metrics.r2_score(truth, predicted),
    }


def is_better(metric: str, value: float, best: float | None) -> bool:
    """Whether ``value`` beats ``best`` for ``metric``."""
    if best is None:
        return True
    return value < best if metric in LOWER_IS_BETTER else value > best
