"""Logging a trained model once, in MLflow, in a format that loads without unpickling where the flavour allows.

scikit-learn and LightGBM models are saved with skops (trusting exactly the types of the model being saved),
XGBoost models in XGBoost's own format. ``pip_requirements`` are pinned from this interpreter's installed versions,
which skips MLflow's requirement inference (~10 s per model on this machine).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from reprise.config import Settings

__all__ = ["LoggedModel", "fetch_model", "log_model", "model_kind", "pinned_requirements", "save_model"]

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

    flavor, options = _model_options(model, input_example)
    if flavor == "xgboost":
        info = mlflow.xgboost.log_model(model, name=name, **options)
    else:
        log = mlflow.lightgbm.log_model if flavor == "lightgbm" else mlflow.sklearn.log_model
        info = log(model, name=name, **options)
    return LoggedModel(model_uri=str(info.model_uri), run_id=str(info.run_id), flavor=flavor)


def save_model(model: Any, input_example: Any, path: str | Path) -> str:
    """Write ``model`` to the folder ``path`` exactly as :func:`log_model` would log it, without a run.

    Why: constrained AutoML measures the size and latency of what would be registered before anything is logged;
    this is that folder, byte for byte in layout and format (skops / XGBoost's own format, pinned requirements).

    Args:
        model: As for :func:`log_model`.
        input_example: As for :func:`log_model`.
        path: A folder that does not exist yet.

    Returns:
        The MLflow flavour used (``sklearn``, ``xgboost`` or ``lightgbm``).
    """
    import mlflow

    flavor, options = _model_options(model, input_example)
    if flavor == "xgboost":
        mlflow.xgboost.save_model(model, str(path), **options)
    else:
        save = mlflow.lightgbm.save_model if flavor == "lightgbm" else mlflow.sklearn.save_model
        save(model, str(path), **options)
    return flavor


def fetch_model(settings: Settings, logged: LoggedModel, destination: Path) -> Path:
    """Download a logged model's files into ``destination``: the bytes the registry would hold, as stored.

    Raises:
        TrackingError: The files cannot be downloaded.
    """
    from pathlib import Path

    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    from reprise.errors import TrackingError
    from reprise.tracking._client import quiet_downloads

    try:
        with quiet_downloads():
            local = download_artifacts(
                artifact_uri=logged.model_uri, dst_path=str(destination), tracking_uri=settings.tracking_uri
            )
    except (MlflowException, OSError) as exc:
        raise TrackingError(f"cannot download {logged.model_uri}: {exc}", hint="check the artifact store") from exc
    return Path(local)


def _model_options(model: Any, input_example: Any) -> tuple[str, dict[str, Any]]:
    """The flavour of ``model`` and the keywords its ``log_model`` / ``save_model`` take (one place for both)."""
    from mlflow.models import infer_signature

    flavor = model_kind(model)
    # A feature pipeline has no predict: its signature is what it outputs, its transform.
    output = model.predict(input_example) if hasattr(model, "predict") else model.transform(input_example)
    options: dict[str, Any] = {
        "signature": infer_signature(input_example, output),
        "input_example": input_example,
        "pip_requirements": pinned_requirements(flavor),
    }
    if flavor != "xgboost":
        options.update(serialization_format="skops", skops_trusted_types=_skops_types(model))
    return flavor, options


def _skops_types(model: Any) -> list[str]:
    """The non-default types inside ``model``: trusting them trusts only what this code just trained."""
    import skops.io

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
