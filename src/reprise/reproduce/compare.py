"""The verdict: how a re-run compares with the original, metric by metric, file by file, prediction by prediction.

A reproduction is **identical** when every metric is bitwise equal, every output file has the same hash (or differs
only in the MLflow ids of the new execution), the prediction fingerprint matches and the numbers the run printed are
the same; **within tolerance** when every number that differs is within ``atol + rtol * |original|``; **different**
otherwise; **failed** when the re-run exited non-zero; **unverified** when nothing could be compared (no metric,
output, prediction or printed number on both sides): a verdict is never "identical" without evidence. A different
outcome is a value of :class:`Verdict`, never an exception.

Example:
    >>> compare_metrics({"rmse": 0.5}, {"rmse": 0.5 + 1e-9}, Tolerance(atol=1e-6))[0].status
    'within_tolerance'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from reprise.capture.record import PredictionFingerprint
from reprise.reproduce._contents import compare_contents, compare_text, is_comparable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from reprise.data.manifest import FileEntry, Manifest

__all__ = [
    "Comparison",
    "MetricDelta",
    "OutputDelta",
    "PredictionDelta",
    "RunSide",
    "StdoutDelta",
    "Tolerance",
    "Verdict",
    "compare_metrics",
    "compare_outputs",
    "compare_predictions",
    "compare_runs",
    "compare_stdout",
]

#: Points kept from two prediction arrays for the report's plot.
_PLOT_POINTS: Final = 400

Status = Literal["identical", "equivalent", "within_tolerance", "different", "missing", "added"]
#: Statuses that keep a reproduction identical / within tolerance.
_IDENTICAL: Final = frozenset({"identical", "equivalent"})
_WITHIN: Final = frozenset({"identical", "equivalent", "within_tolerance"})


class Verdict(StrEnum):
    """The answer to "does this run reproduce?"."""

    IDENTICAL = "identical"
    WITHIN_TOLERANCE = "within_tolerance"
    DIFFERENT = "different"
    FAILED = "failed"
    UNVERIFIED = "unverified"

    @property
    def ok(self) -> bool:
        """True for identical and within tolerance (what a CI gate accepts)."""
        return self in (Verdict.IDENTICAL, Verdict.WITHIN_TOLERANCE)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Tolerance(_Frozen):
    """How far apart two numbers may be and still count as the same: ``|a - b| <= atol + rtol * |a|``.

    Attributes:
        atol: Absolute tolerance.
        rtol: Relative tolerance, relative to the original (reference) value.
    """

    atol: float = Field(default=1e-6, ge=0)
    rtol: float = Field(default=0.0, ge=0)

    def close(self, original: float, reproduced: float) -> bool:
        """Whether ``reproduced`` is within tolerance of ``original`` (two NaNs are close)."""
        if math.isnan(original) or math.isnan(reproduced):
            return math.isnan(original) and math.isnan(reproduced)
        return abs(original - reproduced) <= self.atol + self.rtol * abs(original)


class MetricDelta(_Frozen):
    """One metric on both sides; ``delta`` is reproduced minus original."""

    name: str
    original: float | None
    reproduced: float | None
    delta: float | None
    status: Status


class OutputDelta(_Frozen):
    """One output file on both sides (sha256 of each), with how the contents compare when the bytes differ.

    ``original_available`` is False when the original bytes are gone (overwritten, not in the DVC cache): the file
    then differs by hash and nothing more can be said.
    """

    path: str
    status: Status
    original_sha256: str | None = None
    reproduced_sha256: str | None = None
    detail: str | None = None
    original_available: bool = True


class PredictionDelta(_Frozen):
    """The predictions on both sides.

    Attributes:
        status: identical, within_tolerance, different or missing (one side has none).
        original: The original fingerprint.
        reproduced: The reproduced fingerprint.
        n_total: Number of values compared (None when the values themselves were not available).
        n_different: How many values differ at all.
        max_abs_diff: Largest absolute difference (numeric predictions).
        max_rel_diff: Largest difference relative to the original value.
        sample: Up to 400 ``(original, reproduced)`` pairs, evenly spaced, for a plot.
        detail: One line about what differs.
    """

    status: Status
    original: PredictionFingerprint | None = None
    reproduced: PredictionFingerprint | None = None
    n_total: int | None = None
    n_different: int | None = None
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    sample: tuple[tuple[float, float], ...] = ()
    detail: str | None = None


class StdoutDelta(_Frozen):
    """The numbers a run printed on its standard output, on both sides.

    Attributes:
        status: identical (also when only clock times and ids differ), within_tolerance or different.
        lines: Lines compared (same wording on both sides).
        numbers: Numbers compared in them.
        max_abs_diff: The largest difference among them.
        detail: One line about what differs.
    """

    status: Status
    lines: int = 0
    numbers: int = 0
    max_abs_diff: float = 0.0
    detail: str | None = None


class Comparison(_Frozen):
    """Everything compared, and the verdict it adds up to."""

    verdict: Verdict
    tolerance: Tolerance
    metrics: tuple[MetricDelta, ...] = ()
    outputs: tuple[OutputDelta, ...] = ()
    predictions: PredictionDelta | None = None
    stdout: StdoutDelta | None = None
    exit_code: int | None = None

    @property
    def evidence(self) -> dict[str, int]:
        """How many things were compared on both sides, by kind: metric, output, prediction set, printed number."""
        both = ("missing", "added")
        return {
            "metric": sum(m.status not in both for m in self.metrics),
            "output": sum(o.status not in both for o in self.outputs),
            "prediction set": int(self.predictions is not None and self.predictions.status not in both),
            "printed number": 0 if self.stdout is None else self.stdout.numbers,
        }

    @property
    def evidence_summary(self) -> str:
        """What was compared, e.g. ``37 metrics, 3 outputs, 1 prediction set``, or ``nothing``."""
        return ", ".join(f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in self.evidence.items() if n) or "nothing"

    @property
    def differences(self) -> list[str]:
        """One line per thing that is not identical, metrics first."""
        lines = [f"metric {m.name}: {m.original} -> {m.reproduced} ({m.status})" for m in self.metrics]
        lines = [line for line, m in zip(lines, self.metrics, strict=True) if m.status not in _IDENTICAL]
        lines += [f"output {o.path}: {o.detail or o.status}" for o in self.outputs if o.status not in _IDENTICAL]
        if self.predictions is not None and self.predictions.status not in _IDENTICAL:
            lines.append(f"predictions: {self.predictions.detail or self.predictions.status}")
        if self.stdout is not None and self.stdout.status not in _IDENTICAL:
            lines.append(f"printed output: {self.stdout.detail or self.stdout.status}")
        return lines

    @property
    def max_relative_difference(self) -> float | None:
        """The largest relative difference among numbers that differ (metrics, predictions), if any do."""
        values = [
            abs(m.delta) / max(abs(m.original), abs(m.reproduced), 1e-300)
            for m in self.metrics
            if m.delta is not None and m.original is not None and m.reproduced is not None
            if m.delta != 0 and not math.isnan(m.delta)
        ]
        if self.predictions is not None and self.predictions.max_rel_diff:
            values.append(self.predictions.max_rel_diff)
        if self.stdout is not None and self.stdout.status == "different":
            values.append(math.inf)  # printed numbers carry no scale: never taken for round-off
        return max(values) if values else None


@dataclass(frozen=True)
class RunSide:
    """One side of a comparison: what a run produced.

    Attributes:
        metrics: The run's metrics (with its children's, see :func:`reprise.tracking.records.metric_tree`).
        manifest: The output manifest.
        fingerprint: The prediction fingerprint.
        predictions: The prediction values, when available (an array).
        exit_code: The command's exit code.
        read_output: Returns the bytes of an output file of this side, or None when they cannot be had.
        stdout: What the run printed on its standard output, when it was kept.
    """

    metrics: Mapping[str, float]
    manifest: Manifest | None = None
    fingerprint: PredictionFingerprint | None = None
    predictions: Any = None
    exit_code: int | None = None
    read_output: Callable[[FileEntry], bytes | None] | None = None
    stdout: str | None = None


def compare_runs(original: RunSide, reproduced: RunSide, tolerance: Tolerance | None = None) -> Comparison:
    """Compare what two runs produced and give the verdict.

    Args:
        original: The original run's outputs.
        reproduced: The re-run's outputs.
        tolerance: Numeric tolerance (default ``atol=1e-6``).

    Returns:
        The comparison; ``verdict`` is FAILED when the re-run exited non-zero, UNVERIFIED when nothing was compared.
    """
    tolerance = tolerance or Tolerance()
    metrics = compare_metrics(original.metrics, reproduced.metrics, tolerance)
    outputs = compare_outputs(original, reproduced, tolerance)
    predictions = compare_predictions(
        original.predictions, reproduced.predictions, tolerance, original.fingerprint, reproduced.fingerprint
    )
    stdout = compare_stdout(original.stdout, reproduced.stdout, tolerance)
    statuses = [m.status for m in metrics] + [o.status for o in outputs]
    statuses += [delta.status for delta in (predictions, stdout) if delta is not None]
    comparison = Comparison(
        verdict=Verdict.UNVERIFIED,
        tolerance=tolerance,
        metrics=tuple(metrics),
        outputs=tuple(outputs),
        predictions=predictions,
        stdout=stdout,
        exit_code=reproduced.exit_code,
    )
    if reproduced.exit_code not in (None, 0):
        verdict = Verdict.FAILED
    elif not all(status in _WITHIN for status in statuses):
        verdict = Verdict.DIFFERENT
    elif not any(comparison.evidence.values()):
        verdict = Verdict.UNVERIFIED
    elif all(status in _IDENTICAL for status in statuses):
        verdict = Verdict.IDENTICAL
    else:
        verdict = Verdict.WITHIN_TOLERANCE
    return comparison.model_copy(update={"verdict": verdict})


def compare_stdout(original: str | None, reproduced: str | None, tolerance: Tolerance) -> StdoutDelta | None:
    """Compare the numbers two runs printed, line by line (see :func:`~reprise.reproduce._contents.compare_text`).

    Lines printed by one side only are not a difference: what was captured can differ in extent (a script captured
    with ``reprise.start_run`` keeps only what it printed inside the block). None when either side kept no output or
    no line with a number is on both sides.
    """
    if original is None or reproduced is None:
        return None
    found = compare_text(original, reproduced, atol=tolerance.atol, rtol=tolerance.rtol, lenient=True)
    if not found.numbers:
        return None
    status: Status = "identical" if found.status == "equivalent" else found.status
    return StdoutDelta(
        status=status,
        lines=found.lines,
        numbers=found.numbers,
        max_abs_diff=found.max_abs_diff,
        detail=None if status == "identical" else found.detail,
    )


def compare_metrics(
    original: Mapping[str, float], reproduced: Mapping[str, float], tolerance: Tolerance
) -> list[MetricDelta]:
    """Compare two sets of metrics by name: identical (bitwise), within tolerance, different, missing or added.

    Args:
        original: The original (reference) values.
        reproduced: The new values.
        tolerance: The numeric tolerance.

    Returns:
        One delta per metric name on either side, sorted by name.
    """
    deltas = []
    for name in sorted(original.keys() | reproduced.keys()):
        a, b = original.get(name), reproduced.get(name)
        if a is None or b is None:
            status: Status = "missing" if b is None else "added"
            deltas.append(MetricDelta(name=name, original=a, reproduced=b, delta=None, status=status))
            continue
        a, b = float(a), float(b)
        if a == b or (math.isnan(a) and math.isnan(b)):
            status = "identical"
        else:
            status = "within_tolerance" if tolerance.close(a, b) else "different"
        deltas.append(MetricDelta(name=name, original=a, reproduced=b, delta=b - a, status=status))
    return deltas


def compare_outputs(original: RunSide, reproduced: RunSide, tolerance: Tolerance) -> list[OutputDelta]:
    """Compare the output manifests of two runs file by file, reading contents where the hashes differ.

    Args:
        original: The original side (its ``read_output`` gives the original bytes when they are still around).
        reproduced: The re-run's side.
        tolerance: The numeric tolerance for JSON, CSV and ``.npy`` contents.

    Returns:
        One delta per output path on either side, sorted by path.
    """
    old = {entry.path: entry for entry in (original.manifest.files if original.manifest else ())}
    new = {entry.path: entry for entry in (reproduced.manifest.files if reproduced.manifest else ())}
    deltas = []
    for path in sorted(old.keys() | new.keys()):
        a, b = old.get(path), new.get(path)
        sha_a = a.hashes.get("sha256") if a else None
        sha_b = b.hashes.get("sha256") if b else None
        if a is None or b is None:
            status: Status = "missing" if b is None else "added"
            detail = "not produced by the re-run" if b is None else "produced only by the re-run"
            deltas.append(
                OutputDelta(path=path, status=status, original_sha256=sha_a, reproduced_sha256=sha_b, detail=detail)
            )
            continue
        if _same_content(a, b):
            deltas.append(OutputDelta(path=path, status="identical", original_sha256=sha_a, reproduced_sha256=sha_b))
            continue
        status, detail, available = "different", "content differs", True
        if is_comparable(path, max(a.size, b.size)):
            bytes_a = original.read_output(a) if original.read_output else None
            bytes_b = reproduced.read_output(b) if reproduced.read_output else None
            if bytes_a is None or bytes_b is None:
                detail = "content differs (the original bytes are no longer available to compare)"
                available = bytes_a is not None
            else:
                found = compare_contents(path, bytes_a, bytes_b, atol=tolerance.atol, rtol=tolerance.rtol)
                status, detail = found.status, found.detail
        deltas.append(
            OutputDelta(
                path=path,
                status=status,
                original_sha256=sha_a,
                reproduced_sha256=sha_b,
                detail=detail,
                original_available=available,
            )
        )
    return deltas


def compare_predictions(
    original: Any,
    reproduced: Any,
    tolerance: Tolerance,
    original_fingerprint: PredictionFingerprint | None = None,
    reproduced_fingerprint: PredictionFingerprint | None = None,
) -> PredictionDelta | None:
    """Compare two prediction arrays (or just their fingerprints when the values are not available).

    Args:
        original: The original values (array-like) or None.
        reproduced: The new values or None.
        tolerance: The numeric tolerance.
        original_fingerprint: The original fingerprint, if known.
        reproduced_fingerprint: The new fingerprint, if known.

    Returns:
        The delta, or None when neither side has predictions.
    """
    import numpy as np

    from reprise.capture.record import fingerprint_predictions

    if original_fingerprint is None and original is not None:
        original_fingerprint = fingerprint_predictions(original)
    if reproduced_fingerprint is None and reproduced is not None:
        reproduced_fingerprint = fingerprint_predictions(reproduced)
    if original_fingerprint is None and reproduced_fingerprint is None:
        return None
    if original_fingerprint is None or reproduced_fingerprint is None:
        one_side: Status = "added" if original_fingerprint is None else "missing"
        side = "original" if original_fingerprint is None else "re-run"
        return PredictionDelta(
            status=one_side,
            original=original_fingerprint,
            reproduced=reproduced_fingerprint,
            detail=f"the {side} logged no predictions",
        )
    a = None if original is None else np.asarray(original)
    b = None if reproduced is None else np.asarray(reproduced)
    if original_fingerprint == reproduced_fingerprint:
        size = None if a is None else int(a.size)
        pairs = _sample(a, b) if a is not None and b is not None else ()
        return PredictionDelta(
            status="identical",
            original=original_fingerprint,
            reproduced=reproduced_fingerprint,
            n_total=size,
            n_different=0,
            sample=pairs,
        )
    if a is None or b is None or a.shape != b.shape:
        detail = (
            "fingerprints differ (values not available)" if a is None or b is None else f"shape {a.shape} vs {b.shape}"
        )
        return PredictionDelta(
            status="different", original=original_fingerprint, reproduced=reproduced_fingerprint, detail=detail
        )
    if a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
        unequal = int(np.count_nonzero(a != b))
        detail = f"{unequal} of {a.size} predictions differ"
        status: Status = "different" if unequal else "identical"
        return PredictionDelta(
            status=status,
            original=original_fingerprint,
            reproduced=reproduced_fingerprint,
            n_total=int(a.size),
            n_different=unequal,
            detail=detail,
        )
    return _numeric_delta(a, b, tolerance, original_fingerprint, reproduced_fingerprint)


def _numeric_delta(
    a: Any,
    b: Any,
    tolerance: Tolerance,
    original_fingerprint: PredictionFingerprint,
    reproduced_fingerprint: PredictionFingerprint,
) -> PredictionDelta:
    import numpy as np

    x, y = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    both_nan = np.isnan(x) & np.isnan(y)
    delta = np.where(both_nan, 0.0, np.abs(x - y))
    delta = np.where(np.isnan(delta), np.inf, delta)
    finite = np.abs(x[np.isfinite(x)])
    scale = float(finite.mean()) if finite.size else 0.0  # near-zero values: relative to the array's magnitude
    relative = delta / np.maximum(np.abs(x), max(scale, 1e-300))
    within = bool(np.all(delta <= tolerance.atol + tolerance.rtol * np.abs(x)))
    n_different = int(np.count_nonzero(delta))
    max_abs = float(delta.max()) if delta.size else 0.0
    max_rel = float(relative.max()) if relative.size else 0.0
    status: Status = "identical" if n_different == 0 else ("within_tolerance" if within else "different")
    detail = f"{n_different} of {x.size} values differ, max |Δ| {max_abs:.3g} (relative {max_rel:.3g})"
    return PredictionDelta(
        status=status,
        original=original_fingerprint,
        reproduced=reproduced_fingerprint,
        n_total=int(x.size),
        n_different=n_different,
        max_abs_diff=max_abs,
        max_rel_diff=max_rel,
        sample=_sample(a, b),
        detail=detail if n_different else None,
    )


def _same_content(a: FileEntry, b: FileEntry) -> bool:
    common = [name for name in ("sha256", "blake3", "sha512", "sha1", "md5") if name in a.hashes and name in b.hashes]
    return bool(common) and a.size == b.size and a.hashes[common[0]] == b.hashes[common[0]]


def _sample(a: Any, b: Any) -> tuple[tuple[float, float], ...]:
    import numpy as np

    if a.shape != b.shape or a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf" or a.size == 0:
        return ()
    x, y = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    index = np.unique(np.linspace(0, x.size - 1, min(_PLOT_POINTS, x.size)).astype(int))
    return tuple((float(x[i]), float(y[i])) for i in index if math.isfinite(x[i]) and math.isfinite(y[i]))
