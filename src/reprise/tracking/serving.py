"""What ``reprise serve`` needs from MLflow: a version's signature and storage format, and a callable model.

Which version a reference names and where it came from is the registry's to say
(:mod:`reprise.registry.resolve` builds the :class:`ServedVersion`); from there, two steps, each usable alone so a
server can load in the background:

1. :func:`read_model_spec` reads a version's signature, flavours and storage format from its ``MLmodel`` file,
   without loading the model; :func:`check_loadable` refuses a model whose loading would run code from its files
   (pickle...) unless the user allows it.
2. :func:`load_servable` checks the downloaded files the same way, loads the model and wraps it as a
   :class:`ServableModel` that takes rows keyed by feature name and answers predictions and, for classifiers,
   class probabilities.

MLflow errors are wrapped here as :class:`~reprise.errors.RegistryError`: a version that cannot be served.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import RegistryError
from reprise.tracking._client import client_for, quiet_downloads
from reprise.tracking.models import ONNX_LABEL, ONNX_PROBABILITY
from reprise.tracking.xgboost_categories import CATEGORIES_KEY, LOADER_MODULE, as_categorical

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from reprise.config import Settings

__all__ = [
    "ColumnSpec",
    "ModelSpec",
    "Predictions",
    "ServableModel",
    "ServedVersion",
    "check_loadable",
    "load_servable",
    "load_servable_folder",
    "model_format",
    "onnx_feeds",
    "read_model_spec",
]

#: MLflow column types a served model's inputs may have (MLflow ``DataType`` names).
SERVABLE_TYPES: Final = frozenset({"double", "float", "long", "integer", "boolean", "string"})
#: numpy dtype of each servable column type.
_DTYPES: Final = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
}
_UNKNOWN: Final = "unknown"
#: NumPy's lower-case classes that only hold data (a dtype, an array, a scalar).
_NUMPY_DATA_CLASSES: Final = frozenset(
    {"numpy.dtype", "numpy.ndarray", "numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32", "numpy.bool_"}
)
#: Packages whose classes skops may be told to trust without that running code (see :func:`model_format`).
_DATA_PACKAGES: Final = frozenset({"sklearn", "numpy", "scipy", "lightgbm", "xgboost", "collections"})
#: Reprise's own estimators, trusted one by one: their fitted state is arrays and numbers, their loading runs no code.
_REPRISE_DATA_CLASSES: Final = frozenset({"reprise.automl.zscore.RobustZScore"})


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of a model signature.

    Attributes:
        name: The feature name.
        type: Its MLflow type (``double``, ``long``, ``string``...).
        required: False when the signature marks the column optional (it may be null or missing).
    """

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True)
class ModelSpec:
    """A model's signature and flavours, read from its ``MLmodel`` file.

    Attributes:
        inputs: The input columns, in signature order.
        output_type: The MLflow type of one prediction (``long``, ``double``, ``string``, ``boolean``), or None
            when the signature does not say or a prediction is more than one value.
        signature: The signature as plain data (``inputs``, ``outputs``, ``params`` lists).
        flavors: The model's MLflow flavours.
        example: The first row of the model's input example as JSON values, when it has one.
        model_format: How the model's files are stored, as :func:`model_format` names it (``skops``,
            ``cloudpickle``, ``xgboost json``...).
        runs_code: Whether loading it runs code from its files (unpickling, shipped code): see :func:`model_format`.
        categories: The categories of each categorical column, in the model's order (an XGBoost model with native
            categories: see :mod:`reprise.tracking.xgboost_categories`).
    """

    inputs: tuple[ColumnSpec, ...]
    output_type: str | None
    signature: dict[str, Any]
    flavors: tuple[str, ...]
    example: dict[str, Any] | None = None
    model_format: str = _UNKNOWN
    runs_code: bool = True
    categories: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServedVersion:
    """A registered model version and where it came from.

    Attributes:
        name: The registered model.
        version: The version number.
        alias: The alias it was found through, if any.
        run_id: The run that produced it.
        source: Where MLflow stores its files.
        model_id: The MLflow LoggedModel id, when it is one.
        git_commit: The commit it was trained from (``unknown`` when not captured).
        data_digest: The digest of its training inputs (``unknown`` when not captured).
        model_type: The estimator class or flavour (``unknown`` when not recorded).
        metrics: The run's metrics.
    """

    name: str
    version: int
    alias: str | None
    run_id: str | None
    source: str
    model_id: str | None = None
    git_commit: str = _UNKNOWN
    data_digest: str = _UNKNOWN
    model_type: str = _UNKNOWN
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Predictions:
    """What a model answered for a list of rows, in row order.

    Attributes:
        values: One prediction per row (a number, a string, a bool, or a list for multi-output models).
        probabilities: For classifiers, one ``{class: probability}`` per row; else None.
    """

    values: list[Any]
    probabilities: list[dict[str, float]] | None


def read_model_spec(settings: Settings, version: ServedVersion) -> ModelSpec:
    """The signature, flavours and input example of ``version``, read from its ``MLmodel`` file (no model loaded).

    Raises:
        RegistryError: The version has no readable ``MLmodel`` or no signature.
    """
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    uri = _download_uri(settings, version)
    with tempfile.TemporaryDirectory(prefix="reprise-mlmodel-") as tmp:
        try:
            with quiet_downloads():
                path = download_artifacts(
                    artifact_uri=f"{uri.rstrip('/')}/MLmodel", dst_path=tmp, tracking_uri=settings.tracking_uri
                )
            meta = Model.load(path)
        except (MlflowException, OSError) as exc:
            raise RegistryError(f"cannot read the MLmodel file of {version.name} v{version.version}: {exc}") from exc
        spec = _spec(meta, f"{version.name} v{version.version}")
        example_file = (getattr(meta, "saved_input_example_info", None) or {}).get("artifact_path")
        if not example_file:
            return spec
        try:
            with quiet_downloads():
                download_artifacts(
                    artifact_uri=f"{uri.rstrip('/')}/{example_file}", dst_path=tmp, tracking_uri=settings.tracking_uri
                )
        except (MlflowException, OSError):
            return spec  # an example is documentation: without it the API is the same
        rows = _input_example(meta, tmp)
    return dataclasses.replace(spec, example=_json_row(rows[0])) if rows else spec


def load_servable(
    settings: Settings, version: ServedVersion, *, warm_up: bool = True, allow_pickle: bool = False
) -> ServableModel:
    """Load ``version`` as a :class:`ServableModel`; with ``warm_up``, answer its input example once first.

    The downloaded ``MLmodel`` is checked with :func:`check_loadable` before anything is loaded. The warm-up catches
    a model that loads but cannot predict before it is put in front of clients.

    Raises:
        RegistryError: The model would run code when loaded and ``allow_pickle`` is False, cannot be loaded, has no
            usable signature, or fails on its own input example.
    """
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    uri = _download_uri(settings, version)
    what = f"{version.name} v{version.version}"
    # The files stay on disk as long as the model lives: some flavours read them lazily.
    folder = tempfile.TemporaryDirectory(prefix="reprise-serve-")
    try:
        with quiet_downloads():
            local = download_artifacts(artifact_uri=uri, dst_path=folder.name, tracking_uri=settings.tracking_uri)
    except (MlflowException, OSError) as exc:
        folder.cleanup()
        raise RegistryError(f"cannot load {what}: {exc}", hint="does it load with reprise.load_model?") from exc
    try:
        return load_servable_folder(local, what, warm_up=warm_up, allow_pickle=allow_pickle, folder=folder)
    except RegistryError:
        folder.cleanup()
        raise


def load_servable_folder(
    local: str,
    what: str,
    *,
    warm_up: bool = True,
    allow_pickle: bool = False,
    folder: tempfile.TemporaryDirectory[str] | None = None,
) -> ServableModel:
    """Load the model whose files are in ``local`` exactly as :func:`load_servable` loads a registered version.

    Why: constrained AutoML times single-row predictions on a candidate before it is registered; timing the model
    any other way would measure something ``reprise serve`` never runs.

    Args:
        local: A folder holding an ``MLmodel`` file and the model's files.
        what: The model, for messages.
        warm_up: Answer the model's input example once before returning it.
        allow_pickle: Load a model whose loading runs code from its files.
        folder: A temporary folder holding ``local``, kept alive as long as the model.

    Raises:
        RegistryError: As for :func:`load_servable`.
    """
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    try:
        # The files on disk are the ones loaded: decide from their MLmodel, not from an earlier read.
        check_loadable(Model.load(local), what, allow_pickle=allow_pickle)
        pyfunc = mlflow.pyfunc.load_model(local)
    except (MlflowException, OSError, ImportError, ValueError, TypeError) as exc:
        raise RegistryError(f"cannot load {what}: {exc}", hint="does it load with reprise.load_model?") from exc
    model = ServableModel(pyfunc, _spec(pyfunc.metadata, what), folder)
    if warm_up:
        example = _input_example(pyfunc.metadata, local)
        if example is not None:
            try:
                model.predict_rows(example)
            except Exception as exc:  # any failure here means: this model cannot serve
                raise RegistryError(f"{what} fails on its own input example: {exc!r}") from exc
    return model


def model_format(meta: Any) -> tuple[str, bool]:
    """How a model is stored, and whether ``mlflow.pyfunc.load_model`` would run code from its files to load it.

    Decided from the ``MLmodel`` file alone, on the loader ``mlflow.pyfunc`` would call (its ``python_function``
    flavour's ``loader_module``), which reads the same file: so what is decided here is what happens at load.
    Only loaders known to read data, not code, are safe: scikit-learn in the ``skops`` format, XGBoost's own formats
    (json, ubj, xgb), a LightGBM ``Booster`` in its text format, ONNX. The ``MLmodel`` lists the types skops is to
    trust, and whoever wrote it chose them: skops counts as safe only when each is a class of scikit-learn, NumPy,
    SciPy, LightGBM, XGBoost or ``collections`` (what ``reprise.log_model`` lists) or Reprise's robust z-score
    detector, not a function such as ``numpy.load`` or ``posix.system`` that a crafted file could call. Pickle and
    cloudpickle (scikit-learn's other formats, LightGBM's scikit-learn models, custom ``python_function`` models),
    models from code, a model that ships Python code (``code`` paths, put first on ``sys.path``), and any other
    loader run code.

    Args:
        meta: The model's ``mlflow.models.Model`` (its ``MLmodel`` file).

    Returns:
        ``(format, runs_code)``: e.g. ``("skops", False)``, ``("cloudpickle", True)``, ``("xgboost json", False)``.
    """
    flavors: dict[str, Any] = dict(getattr(meta, "flavors", None) or {})
    pyfunc: dict[str, Any] = dict(flavors.get("python_function") or {})
    loader = str(pyfunc.get("loader_module") or "")
    if not loader:
        return "no python_function flavour", True
    if loader == "mlflow.sklearn":
        stored = _sklearn_format(flavors.get("sklearn") or {}, "")
    elif loader == "mlflow.xgboost":
        stored = (f"xgboost {(flavors.get('xgboost') or {}).get('model_format') or 'xgb'}", False)
    elif loader == "mlflow.lightgbm":
        conf = flavors.get("lightgbm") or {}
        if str(conf.get("model_class") or "lightgbm.basic.Booster") == "lightgbm.basic.Booster":
            stored = ("lightgbm text", False)
        else:
            stored = _sklearn_format(conf, "lightgbm ", default="cloudpickle")
    elif loader == LOADER_MODULE:  # XGBoost's own format, and the categories as plain values in the MLmodel
        stored = (f"xgboost {(flavors.get('xgboost') or {}).get('model_format') or 'xgb'} with categories", False)
    elif loader == "mlflow.onnx":
        stored = ("onnx", False)
    elif loader == "mlflow.pyfunc.model":
        code = pyfunc.get("model_code_path")
        stored = ("python code (model from code)", True) if code else ("cloudpickle (python_function model)", True)
    else:
        stored = (f"{loader} (a loader Reprise cannot vouch for)", True)
    if pyfunc.get("code"):
        return f"{stored[0]} with shipped Python code", True
    return stored


def _sklearn_format(conf: dict[str, Any], prefix: str, default: str = "pickle") -> tuple[str, bool]:
    """A scikit-learn-style flavour's format (``skops``, ``pickle``, ``cloudpickle``) and whether it runs code."""
    found = str(conf.get("serialization_format") or default)
    if found != "skops":
        return f"{prefix}{found}", True
    risky = sorted(str(name) for name in conf.get("skops_trusted_types") or () if not _harmless_type(str(name)))
    if risky:
        return f"{prefix}skops trusting {', '.join(risky)}", True
    return f"{prefix}skops", False


def _harmless_type(name: str) -> bool:
    """A class (capitalised, by these libraries' conventions) of a package whose classes only hold data.

    NumPy names its data classes in lower case (``numpy.dtype``, which scikit-learn's ``SimpleImputer`` keeps):
    those are listed one by one, so a lower-case function of the same package (``numpy.load``) is not trusted.
    """
    module, _, leaf = name.rpartition(".")
    if name in _NUMPY_DATA_CLASSES or name in _REPRISE_DATA_CLASSES:
        return True
    return module.split(".", 1)[0] in _DATA_PACKAGES and leaf[:1].isupper()


def check_loadable(meta: ModelSpec | Any, what: str, *, allow_pickle: bool) -> None:
    """Refuse a model whose loading runs code from its files (see :func:`model_format`) unless ``allow_pickle``.

    Args:
        meta: The model's ``mlflow.models.Model``, or its :class:`ModelSpec`.
        what: The model, for the message (``iris v3``).
        allow_pickle: Whether the user trusts whoever registered it (``reprise serve --allow-pickle``).

    Raises:
        RegistryError: One line naming the model, its format and ``--allow-pickle``.
    """
    stored, runs_code = (meta.model_format, meta.runs_code) if isinstance(meta, ModelSpec) else model_format(meta)
    if runs_code and not allow_pickle:
        raise RegistryError(
            f"refusing to serve {what}: it is stored as {stored}, which runs code from the model's files when "
            "loaded; pass --allow-pickle only if you trust whoever registered it"
        )


class ServableModel:
    """A loaded model that answers rows keyed by feature name, validated beforehand against its signature.

    Predictions are those of ``mlflow.pyfunc`` on the same rows. Probabilities come from the underlying model's
    ``predict_proba`` when it has one; for a random forest (whose ``predict`` is the arg-max of ``predict_proba``)
    one ``predict_proba`` call gives both, which halves the cost of each request. An ONNX graph answers every
    output at once: its ``label`` output is the prediction and its ``probability:<class>`` outputs, if any, the
    probabilities (the names :func:`reprise.tracking.models.log_model` documents). It runs on the ONNX Runtime
    session ``mlflow.pyfunc`` loaded, fed by :func:`onnx_feeds`: MLflow's own ``predict`` hands text columns to ONNX
    Runtime as pandas 3 string arrays, which it refuses.

    Attributes:
        spec: The model's signature and flavours.
        classes: The class labels of a classifier, else None.
    """

    def __init__(self, pyfunc: Any, spec: ModelSpec, folder: tempfile.TemporaryDirectory[str] | None = None) -> None:
        self._pyfunc = pyfunc
        self.spec = spec
        self._folder = folder
        self._columns = [column.name for column in spec.inputs]
        self._dtypes = {column.name: _DTYPES[column.type] for column in spec.inputs}
        self._optional = {column.name for column in spec.inputs if not column.required}
        self._categories = spec.categories
        dtypes = set(self._dtypes.values())
        self._uniform = dtypes.pop() if len(dtypes) == 1 and not self._optional and not self._categories else None
        raw = _raw_model(pyfunc)
        proba = getattr(raw, "predict_proba", None)
        classes = getattr(raw, "classes_", None)
        usable = proba is not None and classes is not None and getattr(classes, "ndim", 0) == 1
        self._proba = proba if usable else None
        self._classes = list(classes) if usable and classes is not None else None
        self.classes: tuple[str, ...] | None = None if self._classes is None else tuple(map(str, self._classes))
        self._argmax = usable and _predicts_by_argmax(raw)
        outputs = [str(output.name) for output in raw.get_outputs()] if hasattr(raw, "get_outputs") else []
        self._onnx = raw if ONNX_LABEL in outputs else None
        self._onnx_proba = {
            name[len(ONNX_PROBABILITY) :]: name for name in outputs if name.startswith(ONNX_PROBABILITY)
        }
        if self._onnx_proba:
            self.classes = tuple(self._onnx_proba)
        #: The class of the underlying model (``RandomForestClassifier``...), when there is one.
        self.model_class: str | None = None if raw is None else type(raw).__name__

    def close(self) -> None:
        """Delete the downloaded files the model was loaded from, when it owns them (a temporary folder)."""
        if self._folder is not None:
            self._folder.cleanup()

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> Predictions:
        """Answer ``rows`` (dicts keyed by feature name, already validated) in one model call.

        Raises:
            Exception: Whatever the model raises; the caller decides what a client sees.
        """
        import numpy as np

        frame = self.frame(rows)
        probabilities: list[dict[str, float]] | None = None
        if self._proba is not None and self._classes is not None:
            proba = np.asarray(self._proba(frame))
            keys = self.classes or ()
            probabilities = [dict(zip(keys, row, strict=True)) for row in proba.tolist()]
            if self._argmax:
                values = np.asarray(self._classes).take(np.argmax(proba, axis=1), axis=0).tolist()
                return Predictions(values=values, probabilities=probabilities)
        if self._onnx is not None:
            names = [ONNX_LABEL, *self._onnx_proba.values()]
            label, *proba = self._onnx.run(names, onnx_feeds(self._onnx, frame))
            columns = [np.asarray(values).reshape(-1).tolist() for values in proba]
            answered = [dict(zip(self._onnx_proba, row, strict=True)) for row in zip(*columns, strict=True)]
            return Predictions(values=_as_list(label), probabilities=answered or None)
        return Predictions(values=_as_list(self._pyfunc.predict(frame)), probabilities=probabilities)

    def frame(self, rows: Sequence[Mapping[str, Any]]) -> Any:
        """The pandas DataFrame of ``rows``: signature column order, signature dtypes (null: NaN or None).

        A categorical column of an XGBoost model is a pandas ``Categorical`` of the model's own categories: what
        ``predict_proba`` of the raw model takes, and what its ``python_function`` loader would cast it to anyway.
        """
        import numpy as np
        import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

        columns = self._columns
        if self._uniform is not None:
            # One dtype and no optional column (e.g. all doubles): one 2-d array, one block, no per-column work.
            matrix = np.array([[row[name] for name in columns] for row in rows], dtype=self._uniform)
            return pd.DataFrame(matrix, columns=columns)
        data = {}
        for name in columns:
            values = [row.get(name) for row in rows]
            dtype = self._dtypes[name]
            if name in self._categories:  # what the model was trained on: these categories, in this order
                data[name] = as_categorical(values, self._categories[name])
                continue
            if name in self._optional and any(value is None for value in values):
                dtype = "float64" if dtype.startswith(("float", "int")) else "object"
            data[name] = np.array(values, dtype=dtype)
        return pd.DataFrame(data, columns=columns)


def onnx_feeds(session: Any, frame: Any) -> dict[str, Any]:
    """ONNX Runtime inputs of ``frame``'s rows: one graph input per column, laid out as MLflow's ``onnx`` flavour does.

    A graph of several inputs takes one value per row in each; a graph of one, the column as ``[N, 1]``. Each is in
    the element type its input declares (text as NumPy object arrays, which ONNX Runtime reads as strings).
    """
    import numpy as np

    inputs = session.get_inputs()
    kinds = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64}
    feeds = {}
    for spec in inputs:
        column = frame[spec.name].to_numpy() if len(inputs) > 1 else frame[[spec.name]].to_numpy()
        feeds[spec.name] = np.asarray(column, dtype=kinds.get(spec.type, object))
    return feeds


def _download_uri(settings: Settings, version: ServedVersion) -> str:
    from mlflow.exceptions import MlflowException

    try:
        return str(client_for(settings).get_model_version_download_uri(version.name, str(version.version)))
    except MlflowException as exc:
        raise RegistryError(f"cannot locate the files of {version.name} v{version.version}: {exc.message}") from exc


def _spec(meta: Any, what: str) -> ModelSpec:
    signature = getattr(meta, "signature", None)
    hint = "log the model with reprise.log_model(model, X.head()) so it carries a signature"
    if signature is None or signature.inputs is None:
        raise RegistryError(f"{what} has no signature: requests cannot be validated", hint=hint)
    inputs = signature.inputs
    if inputs.is_tensor_spec() or not inputs.has_input_names():
        raise RegistryError(f"{what} takes a tensor or unnamed columns; only named columns can be served", hint=hint)
    categories = _categories(meta)
    columns = tuple(
        ColumnSpec(
            name=str(spec.name),
            type=_category_type(categories[spec.name])
            if spec.name in categories
            else getattr(spec.type, "name", str(spec.type)),
            required=bool(spec.required),
        )
        for spec in inputs.inputs
    )
    odd = [f"{column.name} ({column.type})" for column in columns if column.type not in SERVABLE_TYPES]
    if odd:
        raise RegistryError(
            f"{what} has input columns of types that cannot be served: {', '.join(odd)}",
            hint=f"servable types: {', '.join(sorted(SERVABLE_TYPES))}",
        )
    plain = {key: _parse_json(value) for key, value in signature.to_dict().items()}
    flavors = tuple(sorted(str(name) for name in (getattr(meta, "flavors", None) or {})))
    stored, runs_code = model_format(meta)
    return ModelSpec(
        inputs=columns,
        output_type=_output_type(signature.outputs),
        signature=plain,
        flavors=flavors,
        model_format=stored,
        runs_code=runs_code,
        categories=categories,
    )


def _categories(meta: Any) -> dict[str, list[Any]]:
    """The categories of each categorical column of a model saved by :mod:`reprise.tracking.xgboost_categories`."""
    pyfunc = (getattr(meta, "flavors", None) or {}).get("python_function") or {}
    return dict(pyfunc.get(CATEGORIES_KEY) or {}) if pyfunc.get("loader_module") == LOADER_MODULE else {}


def _category_type(values: list[Any]) -> str:
    """The type a request gives a categorical column in (its signature says ``Any``): that of its categories."""
    kinds = {type(value) for value in values}
    for kind, name in ((str, "string"), (bool, "boolean"), (int, "long"), (float, "double")):
        if kinds == {kind}:
            return name
    return "string"


def _output_type(outputs: Any) -> str | None:
    """The type of one prediction: a single column or a 1-d tensor."""
    if outputs is None or len(outputs.inputs) != 1:
        return None
    spec = outputs.inputs[0]
    if outputs.is_tensor_spec():
        shape = tuple(spec.shape)
        if len(shape) != 1:
            return None
        kind = spec.type.kind
        return {"i": "long", "u": "long", "f": "double", "b": "boolean", "O": "string", "U": "string"}.get(kind)
    name = getattr(spec.type, "name", None)
    return name if name in SERVABLE_TYPES else None


def _parse_json(value: Any) -> Any:
    import json

    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _raw_model(pyfunc: Any) -> Any:
    try:
        return pyfunc.get_raw_model()
    except (NotImplementedError, AttributeError):
        return None


def _predicts_by_argmax(raw: Any) -> bool:
    """True when ``raw.predict`` is, by its code, the class of highest ``predict_proba`` (random forests)."""
    from sklearn.ensemble._forest import ForestClassifier
    from sklearn.pipeline import Pipeline

    final = raw._final_estimator if isinstance(raw, Pipeline) else raw
    return (
        isinstance(final, ForestClassifier)
        and type(final).predict is ForestClassifier.predict
        and getattr(final, "n_outputs_", 0) == 1
        and (not isinstance(raw, Pipeline) or type(raw).predict is Pipeline.predict)
    )


def _input_example(meta: Any, local: str) -> list[dict[str, Any]] | None:
    """The input example of the model whose files (or ``MLmodel`` and example) are in ``local``, as rows."""
    try:
        example = meta.load_input_example(local)
    except (OSError, ValueError):
        return None
    to_dict = getattr(example, "to_dict", None)
    if to_dict is None:
        return None
    rows: list[dict[str, Any]] = to_dict(orient="records")
    return rows or None


def _json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON values (numpy scalars to Python, NaN to None)."""
    import math

    plain: dict[str, Any] = {}
    for key, value in row.items():
        item = value.item() if hasattr(value, "item") else value
        plain[str(key)] = None if isinstance(item, float) and not math.isfinite(item) else item
    return plain


def _as_list(output: Any) -> list[Any]:
    """Predictions as plain Python values, one per row."""
    import numpy as np

    to_numpy = getattr(output, "to_numpy", None)
    values = np.asarray(to_numpy() if to_numpy is not None else output)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    result: list[Any] = values.tolist()
    return result
