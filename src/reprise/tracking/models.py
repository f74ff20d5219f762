"""Logging a trained model once, in MLflow, in a format that loads without unpickling where the flavour allows.

scikit-learn and LightGBM models are saved with skops (trusting exactly the types of the model being saved),
XGBoost models in XGBoost's own format. ``pip_requirements`` are pinned from this interpreter's installed versions,
which skips MLflow's requirement inference (~10 s per model on this machine).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any

__all__ = ["LoggedModel", "log_model", "model_kind", "pinned_requirements"]

#: Distributions a flavour's model needs at load time, beyond MLflow itself.
_FLAVOUR_PACKAGES: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn", "numpy", "pandas", "scipy", "skops"),
    "lightgbm": ("lightgbm", "scikit-learn", "numpy", "pandas", "scipy", "skops"),
    "xgboost": ("xgboost", "xgboost-cpu", "scikit-learn", "numpy", "pandas", "scipy"),
}


@dataclass(frozen=True)
class LoggedModel:
    """Where a logged model lives.

    Attributes:
        model_uri: ``models:/m-...`` URI of the LoggedModel (loadable with ``mlflow.pyfunc.load_model``).
        run_id: The run the model was logged in.
        flavor: ``sklearn``, ``xgboost`` or ``lightgbm``.
    """

    model_uri: str
    run_id: str
    flavor: str


def model_kind(model: Any) -> str:
    """Return the MLflow flavour that fits ``model``: ``xgboost``, ``lightgbm`` or ``sklearn``."""
    module = type(model).__module__
    if module.startswith("xgboost"):
        return "xgboost"
    if module.startswith("lightgbm"):
        return "lightgbm"
    return "sklearn"


def pinned_requirements(flavor: str) -> list[str]:
    """Exact ``name==version`` pins of the packages a model of ``flavor`` needs, read from this interpreter."""
    pins = [f"mlflow=={importlib.metadata.version('mlflow')}"]
    for name in _FLAVOUR_PACKAGES[flavor]:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def log_model(model: Any, input_example: Any, *, name: str = "model") -> LoggedModel:
    """Log ``model`` once in the active MLflow run, with its signature and input example.

    Args:
        model: A fitted scikit-learn estimator or transformer, or an XGBoost / LightGBM (sklearn API) estimator.
        input_example: A few rows of the training features (a DataFrame keeps column names in the signature).
        name: The model's name in the run (``runs:/<run_id>/<name>`` loads it).

    Returns:
        The logged model's URI, run and flavour.

    Example:
        >>> with mlflow.start_run():                                    # doctest: +SKIP
        ...     logged = reprise.log_model(model, X_train.head(5))
        >>> mlflow.pyfunc.load_model(logged.model_uri).predict(X_test)  # doctest: +SKIP
    """
    import mlflow
    from mlflow.models import infer_signature

    flavor = model_kind(model)
    # A feature pipeline has no predict: its signature is what it outputs, its transform.
    output = model.predict(input_example) if hasattr(model, "predict") else model.transform(input_example)
    signature = infer_signature(input_example, output)
    common: dict[str, Any] = {
        "name": name,
        "signature": signature,
        "input_example": input_example,
        "pip_requirements": pinned_requirements(flavor),
    }
    if flavor == "xgboost":
        info = mlflow.xgboost.log_model(model, **common)
    else:
        log = mlflow.lightgbm.log_model if flavor == "lightgbm" else mlflow.sklearn.log_model
        info = log(model, serialization_format="skops", skops_trusted_types=_skops_types(model), **common)
    return LoggedModel(model_uri=str(info.model_uri), run_id=str(info.run_id), flavor=flavor)


def _skops_types(model: Any) -> list[str]:
    """The non-default types inside ``model``: trusting them trusts only what this code just trained."""
    import skops.io

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
