"""Request and response models: fixed ones for health, info and failures, and per-model ones built from a signature.

A record is a JSON object keyed by feature name. Each feature is checked strictly against its signature type before
the model sees it: no string for a number, no float for an integer, no NaN or infinity, no unknown feature (rejected,
not dropped). An optional feature may be null (missing). Doubles must also fit in float32 (|x| <= 3.4e38): tree
models (scikit-learn, XGBoost, LightGBM) compute in float32, and a larger value would reach them as infinity and fail.

Example:
    >>> from reprise.tracking.serving import ColumnSpec, ModelSpec
    >>> spec = ModelSpec(inputs=(ColumnSpec("age", "long"),), output_type="long", signature={}, flavors=())
    >>> schemas = build_schemas(spec, max_batch_records=10)
    >>> schemas.record.model_validate({"age": 41}).model_dump(by_alias=True)
    {'age': 41}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pydantic.config import JsonDict

    from reprise.tracking.serving import ColumnSpec, ModelSpec

__all__ = [
    "FLOAT32_MAX",
    "ErrorDetail",
    "Failure",
    "FieldProblem",
    "HealthStatus",
    "InputColumn",
    "LoadProgress",
    "ModelInfo",
    "ReloadFailure",
    "RequestSchemas",
    "ServedModel",
    "build_schemas",
    "describe_problems",
    "json_type",
]

#: Largest magnitude a double feature may have (float32's): see the module docstring.
FLOAT32_MAX: Final = 3.4028234663852886e38
_INT_RANGES: Final = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
_JSON_TYPES: Final = {
    "double": "number",
    "float": "number",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "string": "string",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldProblem(_Strict):
    """What is wrong with one part of a request.

    Attributes:
        field: Where: a feature name, ``records[3].age``, ``records`` or ``body``.
        problem: What is wrong, in words.
        type: A stable machine-readable kind (``missing``, ``unknown_feature``, ``wrong_type``, ``not_finite``...).
    """

    field: str
    problem: str
    type: str


class ErrorDetail(_Strict):
    """Why a request failed.

    Attributes:
        code: Stable kebab-case code (``invalid-request``, ``body-too-large``, ``model-error``, ``not-ready``...).
        message: One line for people.
        fields: For invalid requests, each problem found.
        error_id: For server-side failures, the id to look for in the server log.
        hint: What to do about it, when known.
    """

    code: str
    message: str
    fields: list[FieldProblem] = Field(default_factory=list)
    error_id: str | None = None
    hint: str | None = None


class Failure(_Strict):
    """The body of every 4xx and 5xx answer."""

    status: Literal["error"] = "error"
    error: ErrorDetail


class ServedModel(_Strict):
    """The model version that produced an answer (also in the ``X-Model-*`` and ``X-Run-Id`` headers).

    Attributes:
        name: The registered model.
        version: Its version.
        alias: The alias being served, if any.
        run_id: The MLflow run that trained it (``reprise reproduce`` takes it).
    """

    name: str
    version: int
    alias: str | None = None
    run_id: str | None = None


class ReloadFailure(_Strict):
    """A version that could not be loaded (the previous one, if any, kept serving).

    Attributes:
        version: The version that failed, when known.
        message: What went wrong.
        at: When.
    """

    version: int | None
    message: str
    at: datetime


class LoadProgress(_Strict):
    """A model version being loaded (the first one, or the one a moved alias now names).

    Attributes:
        version: The version being loaded.
        started_at: When its load started.
        elapsed_seconds: How long it has been loading.
    """

    version: int
    started_at: datetime
    elapsed_seconds: float


class HealthStatus(_Strict):
    """Liveness (the process answers: always true here) and readiness (a model is loaded and answering).

    Attributes:
        status: ``ready``; ``degraded`` (serving, but the last load or alias check failed); ``loading`` (no model
            yet); ``failed`` (no model, and loading it failed).
        live: Always true: the process answers.
        ready: Whether predictions are answered.
        model: The version answering, if any.
        loaded_at: When it was loaded.
        last_check_at: When the alias was last checked.
        last_error: The last failed load or alias check, while it is the latest news.
        loading: The version being loaded right now, and for how long, if any.
        message: One line for people: what the service is doing.
    """

    status: Literal["ready", "degraded", "loading", "failed"]
    live: bool = True
    ready: bool
    model: ServedModel | None = None
    loaded_at: datetime | None = None
    last_check_at: datetime | None = None
    last_error: ReloadFailure | None = None
    loading: LoadProgress | None = None
    message: str = ""


class InputColumn(_Strict):
    """One input feature of the served model."""

    name: str
    type: str
    required: bool


class ModelInfo(_Strict):
    """The model answering and everything needed to trace an answer back to its run, code and data.

    Attributes:
        name: The registered model.
        version: The version answering.
        alias: The alias served, if any.
        run_id: The run that trained it.
        model_id: The MLflow LoggedModel id, when it is one.
        source: Where MLflow stores its files.
        model_type: The estimator class or flavour.
        git_commit: The commit it was trained from.
        data_digest: The digest of its training inputs.
        metrics: The run's metrics.
        inputs: The features a record must have.
        signature: The MLflow signature as plain data.
        classes: The class labels of a classifier (the keys of ``probabilities``).
        flavors: The model's MLflow flavours.
        loaded_at: When this version was loaded.
        release: The release it came from (``release:NAME@VERSION``), when a release ships it.
    """

    name: str
    version: int
    alias: str | None
    run_id: str | None
    model_id: str | None
    source: str
    model_type: str
    git_commit: str
    data_digest: str
    metrics: dict[str, float]
    inputs: list[InputColumn]
    signature: dict[str, Any]
    classes: list[str] | None
    flavors: list[str]
    loaded_at: datetime
    release: str | None = None


@dataclass(frozen=True)
class RequestSchemas:
    """The models built from one signature.

    Attributes:
        record: One record (``POST /predict`` body), fields aliased to the feature names.
        batch: ``{"records": [record, ...]}`` (``POST /predict/batch`` body).
        prediction: The ``POST /predict`` answer.
        batch_prediction: The ``POST /predict/batch`` answer.
        types: Feature name to MLflow type, for error messages.
    """

    record: type[BaseModel]
    batch: type[BaseModel]
    prediction: type[BaseModel]
    batch_prediction: type[BaseModel]
    types: dict[str, str]


def build_schemas(spec: ModelSpec, *, max_batch_records: int) -> RequestSchemas:
    """Build request and response models from a model's signature.

    Args:
        spec: The model's signature (only named columns of servable types).
        max_batch_records: The most records a batch may hold.

    Returns:
        The models; their JSON schemas are what ``/openapi.json`` and ``/docs`` show.
    """
    fields: dict[str, Any] = {f"f{index}": _feature_field(column, index) for index, column in enumerate(spec.inputs)}
    examples: JsonDict | None = {"examples": [spec.example]} if spec.example else None
    batch_examples: JsonDict | None = {"examples": [{"records": [spec.example]}]} if spec.example else None
    config = ConfigDict(extra="forbid", frozen=True, title="Record", json_schema_extra=examples)
    record = create_model("Record", __config__=config, __doc__=_record_doc(spec), **fields)
    batch = create_model(
        "BatchRequest",
        __config__=ConfigDict(extra="forbid", frozen=True, json_schema_extra=batch_examples),
        __doc__="Records to predict, answered in the same order.",
        records=(
            list[record],  # type: ignore[valid-type]
            Field(min_length=1, max_length=max_batch_records, description=f"1 to {max_batch_records} records."),
        ),
    )
    value = _prediction_type(spec.output_type)
    # Field definitions as create_model takes them: (type, default or FieldInfo).
    ok: Any = (Literal["ok"], "ok")
    probabilities: Any = (
        dict[str, float] | None,
        Field(None, description="Classifiers: probability of each class; null for other models."),
    )
    batch_probabilities: Any = (
        list[dict[str, float]] | None,
        Field(None, description="Classifiers: one {class: probability} per record."),
    )
    prediction = create_model(
        "Prediction",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__="The answer for one record, and the model version that gave it.",
        status=ok,
        prediction=(value, Field(description="The model's prediction.")),
        probabilities=probabilities,
        model=(ServedModel, ...),
    )
    batch_prediction = create_model(
        "BatchPrediction",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__="The answers for a batch, in record order, and the model version that gave them.",
        status=ok,
        predictions=(list[value], Field(description="One prediction per record.")),  # type: ignore[valid-type]
        probabilities=batch_probabilities,
        model=(ServedModel, ...),
    )
    types = {column.name: column.type for column in spec.inputs}
    return RequestSchemas(
        record=record, batch=batch, prediction=prediction, batch_prediction=batch_prediction, types=types
    )


def json_type(mlflow_type: str) -> str:
    """The JSON type a feature of ``mlflow_type`` takes (``double`` -> ``number``)."""
    return _JSON_TYPES.get(mlflow_type, mlflow_type)


def _feature_field(column: ColumnSpec, index: int) -> tuple[Any, Any]:
    kind = column.type
    description = f"Feature {index + 1}: MLflow type {kind}" + ("" if column.required else " (optional)")
    extra: dict[str, Any] = {"alias": column.name, "title": column.name, "description": description, "strict": True}
    python_type: Any
    if kind in ("double", "float"):
        python_type = float
        extra.update(ge=-FLOAT32_MAX, le=FLOAT32_MAX, allow_inf_nan=False)
    elif kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        python_type = int
        extra.update(ge=low, le=high)
    elif kind == "boolean":
        python_type = bool
    else:
        python_type = str
    if column.required:
        return Annotated[python_type, Field(**extra)], ...
    return Annotated[python_type | None, Field(**extra)], None


def _prediction_type(output_type: str | None) -> Any:
    scalar: dict[str | None, Any] = {"long": int, "integer": int, "double": float, "float": float}
    scalar.update({"boolean": bool, "string": str})
    chosen = scalar.get(output_type)
    return Any if chosen is None else chosen | None


def _record_doc(spec: ModelSpec) -> str:
    names = ", ".join(column.name for column in spec.inputs)
    return f"One record, keyed by feature name ({len(spec.inputs)} features: {names})."


def describe_problems(errors: Sequence[Mapping[str, Any]], types: Mapping[str, str]) -> list[FieldProblem]:
    """Turn pydantic/FastAPI validation errors into one :class:`FieldProblem` per error, in words.

    Args:
        errors: ``RequestValidationError.errors()``.
        types: Feature name to MLflow type (from :class:`RequestSchemas`).
    """
    problems = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part != "body"] if error.get("loc") else []
        kind = str(error.get("type", "invalid"))
        if kind == "json_invalid":
            loc = []
        field = _path(loc)
        feature = loc[-1] if loc and isinstance(loc[-1], str) and loc[-1] in types else None
        problem, label = _problem(kind, error, feature, types)
        problems.append(FieldProblem(field=field, problem=problem, type=label))
    return problems


def _path(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


#: Validation error types, by the label and the words a client gets; {value}, {kind} and ctx keys are filled in.
_PROBLEMS: Final[dict[str, tuple[str, str]]] = {
    "finite_number": (
        "not_finite",
        "{value} is not allowed: send a finite number (null for a missing optional feature)",
    ),
    "less_than_equal": ("out_of_range", "out of range: {value} is beyond the accepted limit {le}"),
    "greater_than_equal": ("out_of_range", "out of range: {value} is beyond the accepted limit {ge}"),
    "too_short": ("empty_batch", "empty batch: send at least one record"),
    "too_long": ("batch_too_large", "batch of {actual_length} records is over the limit of {max_length}"),
    "model_type": ("not_an_object", "expected a JSON object, got {kind}"),
    "model_attributes_type": ("not_an_object", "expected a JSON object, got {kind}"),
    "dict_type": ("not_an_object", "expected a JSON object, got {kind}"),
    "list_type": ("not_a_list", "expected a list of records, got {kind}"),
    "json_invalid": ("malformed_json", "malformed JSON: {error} (at character {position})"),
}
_WRONG_TYPES: Final = frozenset({"float_type", "int_type", "bool_type", "string_type"})
_JSON_KINDS: Final = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"))


def _problem(kind: str, error: Mapping[str, Any], feature: str | None, types: Mapping[str, str]) -> tuple[str, str]:
    value = error.get("input")
    if kind == "missing":
        expected = f" ({json_type(types[feature])})" if feature is not None else ""
        return (f"missing feature: the model needs it{expected}" if feature else "missing"), "missing"
    if kind == "extra_forbidden":
        names = list(types)
        listed = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        return f"unknown feature: not in the model signature (features: {listed})", "unknown_feature"
    if kind in _WRONG_TYPES and feature is not None:
        expected = f"{json_type(types[feature])} (MLflow type {types[feature]})"
        got = "null" if value is None else f"{_json_kind(value)} {_short(value)}"
        return f"wrong type: expected {expected}, got {got}", "wrong_type"
    if isinstance(value, bytes):
        return "the body is not JSON: send it with Content-Type: application/json", "not_json"
    if kind in _PROBLEMS:
        label, template = _PROBLEMS[kind]
        fill = {"error": "cannot parse", **(error.get("ctx") or {})}
        position = error.get("loc", ("body", "?"))[-1]
        return template.format(value=_short(value), kind=_json_kind(value), position=position, **fill), label
    return str(error.get("msg", "invalid")), kind


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    return next((name for kind, name in _JSON_KINDS if isinstance(value, kind)), type(value).__name__)


def _short(value: Any) -> str:
    """``value`` as the client wrote it (JSON: ``"1.5"``, ``null``, ``NaN``), cut to 60 characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)  # NaN and Infinity as JavaScript (and the request) spell them
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
