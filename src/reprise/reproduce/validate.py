"""Validation against a reference: the reproducibility check users write by hand, as a CI gate.

:func:`save_reference` writes a run's metrics (its own and its child runs', e.g. ``accuracy``, ``f1_macro``,
``rmse``, ``r2``...) and an evenly spaced sample of its predictions to a JSON file. :func:`validate_run` compares a
run with such a file, or with another run, metric by metric and prediction by prediction, and says whether
everything is within tolerance. A hand-written file of ``{"metric": value}`` is a valid reference too.

Example:
    >>> save_reference(Path("reference.json"), run_id=first)                              # doctest: +SKIP
    >>> validate_run(second, reference_file=Path("reference.json")).passed                 # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from reprise._canonical import write_atomic
from reprise.capture.record import PredictionFingerprint
from reprise.errors import ConfigError, DataError
from reprise.reproduce.compare import MetricDelta, PredictionDelta, Tolerance

if TYPE_CHECKING:
    from pathlib import Path

    from reprise.config import Settings

__all__ = [
    "KNOWN_METRICS",
    "PredictionSample",
    "REFERENCE_VERSION",
    "Reference",
    "ValidationReport",
    "load_reference",
    "save_reference",
    "validate_run",
]

REFERENCE_VERSION: Final = 1
#: Shown first, in this order (classifier metrics, then regressor metrics); every other logged metric follows.
KNOWN_METRICS: Final = ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "rmse", "mae", "r2")
_SAMPLE: Final = 1000
_HINT: Final = "reprise validate --save-reference reference.json --run RUN_ID"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PredictionSample(_Frozen):
    """Predictions at evenly spaced rows: enough to catch a change without storing them all.

    Attributes:
        indices: The rows sampled (along the first axis).
        values: The predictions at those rows (numbers, strings, or lists for multi-output rows).
        shape: The shape of the whole prediction array.
        dtype: Its NumPy dtype.
        fingerprint: The fingerprint of the whole array.
    """

    indices: tuple[int, ...]
    values: tuple[JsonValue, ...]
    shape: tuple[int, ...]
    dtype: str
    fingerprint: PredictionFingerprint | None = None


class Reference(_Frozen):
    """What a run is validated against.

    Attributes:
        reference_version: Format version.
        run_id: The run the reference was taken from (None for a hand-written file).
        created_at: When it was saved.
        metrics: The metric values.
        predictions: A sample of the predictions, if the run logged any.
    """

    reference_version: int = REFERENCE_VERSION
    run_id: str | None = None
    created_at: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    predictions: PredictionSample | None = None


class ValidationReport(_Frozen):
    """A run checked against a reference.

    Attributes:
        run_id: The run checked.
        reference: The reference file or run id.
        tolerance: The tolerance used.
        metrics: One row per metric (reference metrics first, in :data:`KNOWN_METRICS` order).
        predictions: The prediction comparison (None when the reference has no predictions).
        passed: Every reference metric and the predictions are within tolerance.
        failures: One line per thing outside tolerance.
    """

    run_id: str
    reference: str
    tolerance: Tolerance
    metrics: tuple[MetricDelta, ...] = ()
    predictions: PredictionDelta | None = None
    passed: bool
    failures: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 within tolerance, 1 outside (what ``reprise validate`` exits with)."""
        return 0 if self.passed else 1


def save_reference(
    path: Path, *, run_id: str | None = None, settings: Settings | None = None, sample_size: int = _SAMPLE
) -> Reference:
    """Write a run's metrics and a sample of its predictions to ``path`` (JSON, atomically).

    Args:
        path: The reference file to write.
        run_id: The run (default: the latest finished captured run of the project's experiment).
        settings: The project's settings (default: loaded from the working directory).
        sample_size: How many prediction rows to keep.

    Returns:
        The reference written.

    Raises:
        NotFoundError: No such run (or no captured run at all).
    """
    from reprise.config import load_settings
    from reprise.tracking.records import latest_captured_run, metric_tree, read_predictions

    settings = settings or load_settings()
    run_id = run_id or latest_captured_run(settings).run_id
    predictions = read_predictions(settings, run_id)
    reference = Reference(
        run_id=run_id,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        metrics=metric_tree(settings, run_id),
        predictions=None if predictions is None else _sample(predictions, sample_size),
    )
    write_atomic(path, json.dumps(reference.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    return reference


def load_reference(path: Path) -> Reference:
    """Read a reference file: one written by :func:`save_reference`, or a plain ``{"metric": number}`` object.

    Raises:
        DataError: The file is missing, not JSON, or neither form (the message says which key is wrong).
    """
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"reference file {path} does not exist", hint=_HINT) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read reference file {path}: {exc}", hint=_HINT) from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"reference file {path} is not valid JSON: {exc}", hint=_HINT) from exc
    if not isinstance(raw, dict):
        raise DataError(f"reference file {path} must hold a JSON object", hint=_HINT)
    if "reference_version" not in raw:
        bad = [key for key, value in raw.items() if not isinstance(value, int | float) or isinstance(value, bool)]
        if bad or not raw:
            what = f"'{bad[0]}' is not a number" if bad else "it is empty"
            raise DataError(f'reference file {path}: {what} (expected {{"metric": number, ...}})', hint=_HINT)
        return Reference(metrics={key: float(value) for key, value in raw.items()})
    if isinstance(raw["reference_version"], int) and raw["reference_version"] > REFERENCE_VERSION:
        raise DataError(f"reference file {path} has version {raw['reference_version']}", hint="upgrade reprise")
    try:
        return Reference.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DataError(f"reference file {path}: {where}: {first['msg']}", hint=_HINT) from exc


def validate_run(
    run_id: str | None = None,
    *,
    reference_file: Path | None = None,
    reference_run_id: str | None = None,
    tolerance: Tolerance | None = None,
    settings: Settings | None = None,
) -> ValidationReport:
    """Check a run against a reference file or another run.

    Args:
        run_id: The run to check (default: the latest finished captured run).
        reference_file: A file written by :func:`save_reference` (or a plain metrics object).
        reference_run_id: Or a run to compare with directly (all predictions, not a sample).
        tolerance: Numeric tolerance (default ``atol=1e-6``).
        settings: The project's settings.

    Returns:
        The report; ``passed`` is the gate.

    Raises:
        ConfigError: Neither or both references given.
        DataError: The reference file is missing or malformed.
        NotFoundError: An unknown run.
    """
    from reprise.config import load_settings
    from reprise.reproduce.compare import compare_metrics, compare_predictions
    from reprise.tracking.records import latest_captured_run, metric_tree, read_predictions, run_info

    if (reference_file is None) == (reference_run_id is None):
        raise ConfigError(
            "give exactly one reference: --reference-metrics-file FILE or --reference-run-id RUN_ID",
            hint="reprise validate --run RUN_ID --reference-metrics-file reference.json",
        )
    settings = settings or load_settings()
    tolerance = tolerance or Tolerance()
    if reference_file is not None:
        reference, label = load_reference(reference_file), str(reference_file)
    else:
        assert reference_run_id is not None
        run_info(settings, reference_run_id)
        reference, label = (
            Reference(run_id=reference_run_id, metrics=metric_tree(settings, reference_run_id)),
            reference_run_id,
        )
    run_id = run_id or latest_captured_run(settings).run_id
    current = metric_tree(settings, run_id)
    metrics = sorted(compare_metrics(reference.metrics, current, tolerance), key=lambda delta: _order(delta.name))
    predictions = None
    values = read_predictions(settings, run_id)
    if reference_run_id is not None:
        expected = read_predictions(settings, reference_run_id)
        if expected is not None or values is not None:
            predictions = compare_predictions(expected, values, tolerance)
    elif reference.predictions is not None:
        predictions = _compare_sample(reference.predictions, values, tolerance)
    failures = [
        f"{m.name}: {m.original} -> {m.reproduced} ({m.status})"
        for m in metrics
        if m.status not in ("identical", "within_tolerance", "added")
    ]
    if predictions is not None and predictions.status not in ("identical", "within_tolerance"):
        failures.append(f"predictions: {predictions.detail or predictions.status}")
    return ValidationReport(
        run_id=run_id,
        reference=label,
        tolerance=tolerance,
        metrics=tuple(metrics),
        predictions=predictions,
        passed=not failures,
        failures=tuple(failures),
    )


def _sample(predictions: Any, size: int) -> PredictionSample:
    import numpy as np

    from reprise.capture.record import fingerprint_predictions

    array = np.asarray(predictions)
    rows = array.shape[0] if array.ndim else 1
    flat = array.reshape(rows, -1) if array.ndim else array.reshape(1)
    indices = np.unique(np.linspace(0, rows - 1, min(size, rows)).astype(int)).tolist() if rows else []
    values = tuple(_json_value(flat[index]) for index in indices)
    return PredictionSample(
        indices=tuple(indices),
        values=values,
        shape=tuple(array.shape),
        dtype=str(array.dtype),
        fingerprint=fingerprint_predictions(array),
    )


def _compare_sample(sample: PredictionSample, values: Any, tolerance: Tolerance) -> PredictionDelta:
    import numpy as np

    from reprise.reproduce.compare import compare_predictions

    if values is None:
        return PredictionDelta(status="missing", original=sample.fingerprint, detail="the run logged no predictions")
    array = np.asarray(values)
    if tuple(array.shape) != sample.shape:
        return PredictionDelta(
            status="different", original=sample.fingerprint, detail=f"shape {list(sample.shape)} vs {list(array.shape)}"
        )
    rows = array.shape[0] if array.ndim else 1
    flat = array.reshape(rows, -1) if array.ndim else array.reshape(1)
    current = [_json_value(flat[index]) for index in sample.indices]
    expected_array = np.asarray(list(sample.values), dtype=sample.dtype if sample.dtype != "object" else object)
    current_array = np.asarray(current, dtype=array.dtype if array.dtype != object else object)
    delta = compare_predictions(expected_array, current_array, tolerance)
    assert delta is not None
    return delta


def _json_value(row: Any) -> JsonValue:
    items = row.tolist() if hasattr(row, "tolist") else row
    if isinstance(items, list) and len(items) == 1:
        items = items[0]
    return items  # type: ignore[no-any-return]


def _order(name: str) -> tuple[int, str]:
    leaf = name.rsplit("/", 1)[-1].removeprefix("test_")
    return (KNOWN_METRICS.index(leaf) if leaf in KNOWN_METRICS else len(KNOWN_METRICS), name)
