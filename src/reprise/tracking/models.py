"""Logging a trained model once, in MLflow, in a format that loads without unpickling where the flavour allows.

scikit-learn and LightGBM models are saved with skops (trusting exactly the types of the model being saved),
XGBoost models in XGBoost's own format (with native categorical features, laid out by
:mod:`reprise.tracking.xgboost_categories` so that ``mlflow.pyfunc`` can predict with them), ONNX graphs (an
``onnx.ModelProto``, constrained AutoML's deployable form) with MLflow's ``onnx`` flavour, which ``mlflow.pyfunc``
runs on ONNX Runtime. ``pip_requirements`` are pinned from
this interpreter's installed versions, which skips MLflow's requirement inference (~10 s per model on this machine).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from reprise.config import Settings

__all__ = [
    "LoggedModel",
    "ONNX_LABEL",
    "ONNX_PROBABILITY",
    "fetch_model",
    "log_model",
    "model_kind",
    "pinned_requirements",
    "save_model",
]

#: An ONNX classifier's or detector's output holding one label per row (what ``predict`` answers).
ONNX_LABEL = "label"
#: Prefix of an ONNX classifier's per-class probability outputs (``probability:<class>``, one value per row).
ONNX_PROBABILITY = "probability:"

#: Distributions a flavour's model needs at load time, beyond MLflow itself.
_FLAVOUR_PACKAGES: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn", "numpy", "pandas", "scipy", "skops"),
    "lightgbm": ("lightgbm", "scikit-learn", "numpy", "pandas", "scipy", "skops"),
    "xgboost": ("xgboost", "xgboost-cpu", "scikit-learn", "numpy", "pandas", "scipy"),
    "onnx": ("onnx", "onnxruntime", "numpy", "pandas"),
}


@dataclass(frozen=True)
class LoggedModel:
    """Where a logged model lives.

    Attributes:
        model_uri: ``models:/m-...`` URI of the LoggedModel (loadable with ``mlflow.pyfunc.load_model``).
        run_id: The run the model was logged in.
        flavor: ``sklearn``, ``xgboost``, ``lightgbm`` or ``onnx``.
    """

    model_uri: str
    run_id: str
    flavor: str


def model_kind(model: Any) -> str:
    """Return the MLflow flavour that fits ``model``: ``xgboost``, ``lightgbm``, ``onnx`` or ``sklearn``."""
    module = type(model).__module__
    if module.startswith("onnx"):
        return "onnx"
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


def log_model(
    model: Any, input_example: Any, *, name: str = "model", predictions: Any = None, threads: int | None = None
) -> LoggedModel:
    """Log ``model`` once in the active MLflow run, with its signature and input example.

    Args:
        model: A fitted scikit-learn estimator or transformer, an XGBoost / LightGBM (sklearn API) estimator, or an
            ``onnx.ModelProto`` taking one input per column of ``input_example``.
        input_example: A few rows of the training features (a DataFrame keeps column names in the signature).
        name: The model's name in the run (``runs:/<run_id>/<name>`` loads it).
        predictions: What the model answers for ``input_example``, for the signature's output; needed only for an
            ONNX graph, which cannot be asked without a runtime (others: ``model.predict(input_example)``).
        threads: For an ONNX graph: the threads ONNX Runtime may use when it predicts, recorded in the model (its
            own pool, which the BLAS/OpenMP limits of the process do not reach). None: ONNX Runtime's default.

    Returns:
        The logged model's URI, run and flavour.

    Example:
        >>> with mlflow.start_run():                                    # doctest: +SKIP
        ...     logged = reprise.log_model(model, X_train.head(5))
        >>> mlflow.pyfunc.load_model(logged.model_uri).predict(X_test)  # doctest: +SKIP
    """
    import mlflow

    flavor, options, categorical = _model_options(model, input_example, predictions, threads)
    if categorical:
        from mlflow.models import Model

        from reprise.tracking import xgboost_categories

        info = Model.log(
            artifact_path=None, name=name, flavor=xgboost_categories, flavor_name=flavor, xgb_model=model, **options
        )
    elif flavor == "xgboost":
        info = mlflow.xgboost.log_model(model, name=name, **options)
    elif flavor == "onnx":
        info = mlflow.onnx.log_model(model, name=name, **options)
    else:
        log = mlflow.lightgbm.log_model if flavor == "lightgbm" else mlflow.sklearn.log_model
        info = log(model, name=name, **options)
    return LoggedModel(model_uri=str(info.model_uri), run_id=str(info.run_id), flavor=flavor)


def save_model(
    model: Any, input_example: Any, path: str | Path, *, predictions: Any = None, threads: int | None = None
) -> str:
    """Write ``model`` to the folder ``path`` exactly as :func:`log_model` would log it, without a run.

    Why: constrained AutoML measures the size and latency of what would be registered before anything is logged;
    this is that folder, byte for byte in layout and format (skops / XGBoost's own format, pinned requirements).

    Args:
        model: As for :func:`log_model`.
        input_example: As for :func:`log_model`.
        path: A folder that does not exist yet.
        predictions: As for :func:`log_model`.
        threads: As for :func:`log_model`.

    Returns:
        The MLflow flavour used (``sklearn``, ``xgboost``, ``lightgbm`` or ``onnx``).
    """
    import mlflow

    flavor, options, categorical = _model_options(model, input_example, predictions, threads)
    if categorical:
        from reprise.tracking import xgboost_categories

        xgboost_categories.save_model(model, str(path), **options)
    elif flavor == "xgboost":
        mlflow.xgboost.save_model(model, str(path), **options)
    elif flavor == "onnx":
        mlflow.onnx.save_model(model, str(path), **options)
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


def _model_options(
    model: Any, input_example: Any, predictions: Any, threads: int | None
) -> tuple[str, dict[str, Any], bool]:
    """The flavour of ``model``, the keywords its ``log_model`` / ``save_model`` take, and whether it has categories.

    One place for both functions. An XGBoost model with categorical features is saved by
    :mod:`reprise.tracking.xgboost_categories`.
    """
    from mlflow.models import infer_signature

    flavor = model_kind(model)
    categorical = False
    if flavor == "xgboost":
        from reprise.tracking.xgboost_categories import model_categories

        categorical = bool(model_categories(model))
    if predictions is not None:
        output = predictions
    elif hasattr(model, "predict"):
        output = model.predict(input_example)
    else:  # a feature pipeline has no predict: its signature is what it outputs, its transform
        output = model.transform(input_example)
    options: dict[str, Any] = {
        "signature": infer_signature(input_example, output),
        "input_example": input_example,
        "pip_requirements": pinned_requirements(flavor),
    }
    if categorical:  # its loader is Reprise's
        options["pip_requirements"].append(f"reprise=={importlib.metadata.version('reprise')}")
    if flavor == "onnx":
        # One file (a device downloads one thing), the CPU, and the thread pool ONNX Runtime opens at load.
        options.update(save_as_external_data=False, onnx_execution_providers=["CPUExecutionProvider"])
        if threads is not None:
            options["onnx_session_options"] = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
    elif flavor != "xgboost":
        options.update(serialization_format="skops", skops_trusted_types=_skops_types(model))
    return flavor, options, categorical


def _skops_types(model: Any) -> list[str]:
    """The non-default types inside ``model``: trusting them trusts only what this code just trained."""
    import skops.io

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
