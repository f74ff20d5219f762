"""Model families: their search spaces, their interpretability class, and the pipeline each trial fits.

A family's interpretability class comes from what the family is, not from a trial: logistic regression and a
decision tree are glass boxes (so is a robust z-score: a distance per feature), tree ensembles are explainable with
TreeSHAP, a neural network is opaque. Every
family fits inside one scikit-learn pipeline (impute, scale, one-hot, estimator) that ``reprise.log_model`` stores
with skops, so what is searched is what ``reprise serve`` can load without unpickling. Every estimator uses one
thread: a trial's result must not depend on how many cores the machine has or how many trials run beside it.

Parameters are named ``<family prefix>_<name>`` so one Optuna study can hold every family's conditional space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import optuna

__all__ = ["FAMILIES", "Family", "build_pipeline", "check_families", "suggest_params"]


@dataclass(frozen=True)
class Family:
    """One model family.

    Attributes:
        name: The family id used in presets and trial params.
        task: ``classification`` or ``anomaly``.
        interpretability: ``glass_box``, ``explainable`` (TreeSHAP) or ``opaque``.
        starter: A cheap, sensible configuration, enqueued before the sampler takes over.
    """

    name: str
    task: str
    interpretability: str
    starter: Mapping[str, Any]
    _suggest: Callable[[optuna.Trial], dict[str, Any]]
    _build: Callable[[Mapping[str, Any], int], Any]


def _suggest_lr(trial: optuna.Trial) -> dict[str, Any]:
    return {"lr_C": trial.suggest_float("lr_C", 1e-3, 1e2, log=True)}


def _build_lr(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=params["lr_C"], max_iter=500, random_state=seed)


def _suggest_dt(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "dt_max_depth": trial.suggest_int("dt_max_depth", 2, 12),
        "dt_min_samples_leaf": trial.suggest_int("dt_min_samples_leaf", 1, 50, log=True),
    }


def _build_dt(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(
        max_depth=params["dt_max_depth"], min_samples_leaf=params["dt_min_samples_leaf"], random_state=seed
    )


def _suggest_rf(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "rf_n_estimators": trial.suggest_int("rf_n_estimators", 10, 300, log=True),
        "rf_max_depth": trial.suggest_int("rf_max_depth", 2, 30, log=True),
        "rf_min_samples_leaf": trial.suggest_int("rf_min_samples_leaf", 1, 20, log=True),
    }


def _build_rf(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=params["rf_n_estimators"],
        max_depth=params["rf_max_depth"],
        min_samples_leaf=params["rf_min_samples_leaf"],
        n_jobs=1,
        random_state=seed,
    )


def _suggest_lgbm(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "lgbm_n_estimators": trial.suggest_int("lgbm_n_estimators", 20, 400, log=True),
        "lgbm_num_leaves": trial.suggest_int("lgbm_num_leaves", 4, 64, log=True),
        "lgbm_learning_rate": trial.suggest_float("lgbm_learning_rate", 0.01, 0.3, log=True),
    }


def _build_lgbm(params: Mapping[str, Any], seed: int) -> Any:
    from lightgbm import LGBMClassifier

    from reprise.seeding import SeedConfig

    return LGBMClassifier(
        n_estimators=params["lgbm_n_estimators"],
        num_leaves=params["lgbm_num_leaves"],
        learning_rate=params["lgbm_learning_rate"],
        n_jobs=1,
        **SeedConfig(seed).lightgbm,
    )


def _suggest_mlp(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "mlp_width": trial.suggest_int("mlp_width", 8, 256, log=True),
        "mlp_alpha": trial.suggest_float("mlp_alpha", 1e-6, 1e-1, log=True),
    }


def _build_mlp(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(params["mlp_width"],), alpha=params["mlp_alpha"], max_iter=300, random_state=seed
    )


def _suggest_iforest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "if_n_estimators": trial.suggest_int("if_n_estimators", 20, 400, log=True),
        "if_max_samples": trial.suggest_float("if_max_samples", 0.1, 1.0),
    }


def _build_iforest(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.ensemble import IsolationForest

    return IsolationForest(
        n_estimators=params["if_n_estimators"], max_samples=params["if_max_samples"], n_jobs=1, random_state=seed
    )


def _suggest_lof(trial: optuna.Trial) -> dict[str, Any]:
    return {"lof_n_neighbors": trial.suggest_int("lof_n_neighbors", 5, 100, log=True)}


def _build_lof(params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.neighbors import LocalOutlierFactor

    del seed  # LOF has no randomness
    return LocalOutlierFactor(n_neighbors=params["lof_n_neighbors"], novelty=True, n_jobs=1)


def _suggest_zscore(trial: optuna.Trial) -> dict[str, Any]:
    return {"zs_aggregate": trial.suggest_categorical("zs_aggregate", ["max", "mean"])}


def _build_zscore(params: Mapping[str, Any], seed: int) -> Any:
    from reprise.automl.zscore import RobustZScore

    del seed  # medians and MADs have no randomness
    return RobustZScore(aggregate=params["zs_aggregate"])


#: Every family Reprise searches, by name.
FAMILIES: Final[dict[str, Family]] = {
    family.name: family
    for family in (
        Family("logistic_regression", "classification", "glass_box", {"lr_C": 1.0}, _suggest_lr, _build_lr),
        Family(
            "decision_tree",
            "classification",
            "glass_box",
            {"dt_max_depth": 4, "dt_min_samples_leaf": 5},
            _suggest_dt,
            _build_dt,
        ),
        Family(
            "random_forest",
            "classification",
            "explainable",
            {"rf_n_estimators": 50, "rf_max_depth": 8, "rf_min_samples_leaf": 2},
            _suggest_rf,
            _build_rf,
        ),
        Family(
            "lightgbm",
            "classification",
            "explainable",
            {"lgbm_n_estimators": 100, "lgbm_num_leaves": 15, "lgbm_learning_rate": 0.1},
            _suggest_lgbm,
            _build_lgbm,
        ),
        Family("mlp", "classification", "opaque", {"mlp_width": 32, "mlp_alpha": 1e-4}, _suggest_mlp, _build_mlp),
        Family(
            "isolation_forest",
            "anomaly",
            "explainable",
            {"if_n_estimators": 100, "if_max_samples": 1.0},
            _suggest_iforest,
            _build_iforest,
        ),
        Family("local_outlier_factor", "anomaly", "glass_box", {"lof_n_neighbors": 20}, _suggest_lof, _build_lof),
        Family("robust_zscore", "anomaly", "glass_box", {"zs_aggregate": "max"}, _suggest_zscore, _build_zscore),
    )
}


def check_families(names: Sequence[str], task: str, interpretability: str) -> tuple[str, ...]:
    """The families of ``names`` a search may use: known, of ``task``, and no less transparent than allowed.

    Raises:
        ConfigError: A name is unknown or of another task, or no family is left.
    """
    from reprise.automl.presets import INTERPRETABILITY

    limit = INTERPRETABILITY.index(interpretability)
    allowed = []
    for name in names:
        family = FAMILIES.get(name)
        if family is None or family.task != task:
            known = ", ".join(sorted(key for key, value in FAMILIES.items() if value.task == task))
            raise ConfigError(f"unknown {task} model family '{name}' in families", hint=f"known: {known}")
        if INTERPRETABILITY.index(family.interpretability) <= limit:
            allowed.append(name)
    if not allowed:
        raise ConfigError(
            f"no family in {', '.join(names)} is {interpretability} or more transparent",
            hint="loosen interpretability in the constraints file, or add a glass-box family",
        )
    return tuple(allowed)


def suggest_params(trial: optuna.Trial, families: Sequence[str]) -> dict[str, Any]:
    """Draw one configuration: a family, then that family's own parameters."""
    name = trial.suggest_categorical("family", list(families))
    return {"family": name, **FAMILIES[str(name)]._suggest(trial)}


def build_pipeline(params: Mapping[str, Any], seed: int, numeric: Sequence[str], categorical: Sequence[str]) -> Any:
    """The unfitted pipeline of a configuration: scale numbers, one-hot text, then the estimator.

    Missing numbers are not imputed: scikit-learn's imputer keeps a ``numpy.dtype`` that ``reprise serve`` will not
    trust without ``--allow-pickle``. Trees (decision tree, random forest, LightGBM, isolation forest) take missing
    values natively; a family that cannot fails its trials on such data, and the search goes on without it. Text
    columns arrive with missing values already spelt ``missing``.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        parts.append(("numeric", StandardScaler(), list(numeric)))
    if categorical:
        # dtype as a string: a numpy type object would be one more type for skops to trust at load.
        encode = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype="float64")
        parts.append(("categorical", encode, list(categorical)))
    estimator = FAMILIES[str(params["family"])]._build(params, seed)
    return Pipeline([("prepare", ColumnTransformer(parts)), ("model", estimator)])
