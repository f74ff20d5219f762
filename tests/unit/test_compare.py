"""The verdict: metrics, outputs (hashes, then contents) and predictions compared with a tolerance."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from reprise.capture.record import fingerprint_predictions
from reprise.data.manifest import FileEntry, Manifest, manifest_digest
from reprise.reproduce._contents import compare_contents
from reprise.reproduce.compare import (
    RunSide,
    Tolerance,
    Verdict,
    compare_metrics,
    compare_predictions,
    compare_runs,
)

RUN_A = "0123456789abcdef0123456789abcdef"
RUN_B = "fedcba9876543210fedcba9876543210"


def _manifest(files: dict[str, bytes]) -> Manifest:
    import hashlib

    entries = tuple(
        FileEntry(path=path, size=len(data), hashes={"sha256": hashlib.sha256(data).hexdigest()})
        for path, data in sorted(files.items())
    )
    return Manifest(paths=(".",), files=entries, digest=manifest_digest(entries))


def _side(metrics: dict[str, float], files: dict[str, bytes] | None = None, predictions=None, exit_code=0) -> RunSide:
    files = files or {}
    return RunSide(
        metrics=metrics,
        manifest=_manifest(files) if files else None,
        predictions=predictions,
        exit_code=exit_code,
        read_output=lambda entry: files.get(entry.path),
    )


@pytest.mark.parametrize(
    ("original", "reproduced", "status"),
    [
        (0.5, 0.5, "identical"),
        (0.5, 0.5 + 1e-9, "within_tolerance"),
        (0.5, 0.6, "different"),
        (math.nan, math.nan, "identical"),
        (1.0, math.nan, "different"),
    ],
    ids=["equal", "tiny", "far", "both-nan", "one-nan"],
)
def test_metric_status(original: float, reproduced: float, status: str) -> None:
    [delta] = compare_metrics({"m": original}, {"m": reproduced}, Tolerance(atol=1e-6))
    assert delta.status == status


def test_relative_tolerance_is_relative_to_the_original() -> None:
    tolerance = Tolerance(atol=0.0, rtol=1e-3)
    assert compare_metrics({"m": 1000.0}, {"m": 1000.5}, tolerance)[0].status == "within_tolerance"
    assert compare_metrics({"m": 1.0}, {"m": 1.5}, tolerance)[0].status == "different"


def test_missing_and_added_metrics_are_named() -> None:
    deltas = {d.name: d.status for d in compare_metrics({"a": 1.0, "b": 2.0}, {"b": 2.0, "c": 3.0}, Tolerance())}
    assert deltas == {"a": "missing", "b": "identical", "c": "added"}


def test_identical_run_is_identical() -> None:
    preds = np.linspace(0, 1, 50)
    side = _side({"rmse": 0.25}, {"out/model.txt": b"weights"}, preds)
    comparison = compare_runs(side, _side({"rmse": 0.25}, {"out/model.txt": b"weights"}, preds.copy()))
    assert comparison.verdict is Verdict.IDENTICAL
    assert comparison.verdict.ok
    assert comparison.differences == []
    assert comparison.predictions is not None and comparison.predictions.sample


def test_failed_rerun_is_failed_whatever_else() -> None:
    comparison = compare_runs(_side({"rmse": 0.25}), _side({"rmse": 0.25}, exit_code=3))
    assert comparison.verdict is Verdict.FAILED
    assert not comparison.verdict.ok


def test_output_that_differs_only_by_run_ids_is_equivalent() -> None:
    a = json.dumps({"run_id": RUN_A, "model_uri": f"runs:/{RUN_A}/model", "rmse": 1.5}).encode()
    b = json.dumps({"run_id": RUN_B, "model_uri": f"runs:/{RUN_B}/model", "rmse": 1.5}).encode()
    comparison = compare_runs(_side({}, {"best.json": a}), _side({}, {"best.json": b}))
    assert comparison.verdict is Verdict.IDENTICAL
    assert comparison.outputs[0].status == "equivalent"
    assert "ids" in (comparison.outputs[0].detail or "")


def test_output_numbers_within_tolerance_make_the_verdict_within_tolerance() -> None:
    a, b = json.dumps({"rmse": 1.5}).encode(), json.dumps({"rmse": 1.5 + 1e-12}).encode()
    comparison = compare_runs(_side({}, {"metrics.json": a}), _side({}, {"metrics.json": b}))
    assert comparison.verdict is Verdict.WITHIN_TOLERANCE
    assert comparison.outputs[0].status == "within_tolerance"


def test_output_with_a_real_change_is_different_and_says_where() -> None:
    a, b = json.dumps({"model": {"depth": 4}}).encode(), json.dumps({"model": {"depth": 5}}).encode()
    comparison = compare_runs(_side({}, {"m.json": a}), _side({}, {"m.json": b}))
    assert comparison.verdict is Verdict.DIFFERENT
    assert "model.depth" in (comparison.outputs[0].detail or "")


def test_output_bytes_unavailable_is_different_and_says_so() -> None:
    original = RunSide(metrics={}, manifest=_manifest({"a.json": b"{}"}), read_output=lambda entry: None)
    comparison = compare_runs(original, _side({}, {"a.json": b'{"x": 1}'}))
    assert comparison.verdict is Verdict.DIFFERENT
    assert "no longer available" in (comparison.outputs[0].detail or "")


def test_missing_output_is_different() -> None:
    comparison = compare_runs(_side({}, {"a.bin": b"x"}), _side({}, {"b.bin": b"x"}))
    assert {o.path: o.status for o in comparison.outputs} == {"a.bin": "missing", "b.bin": "added"}
    assert comparison.verdict is Verdict.DIFFERENT


@pytest.mark.parametrize(
    ("a", "b", "status"),
    [
        (b"x,y\n1.0,2.0\n", b"x,y\n1.0,2.0000000000001\n", "within_tolerance"),
        (b"x,y\n1.0,2.0\n", b"x,y\n1.0,3.0\n", "different"),
        (b"x,y\n1.0,2.0\n", b"x,z\n1.0,2.0\n", "different"),
        (b"x\n1\n", b"x\n1\n2\n", "different"),
    ],
    ids=["float-noise", "value", "header", "rows"],
)
def test_csv_contents(a: bytes, b: bytes, status: str) -> None:
    assert compare_contents("t.csv", a, b, atol=1e-6, rtol=0.0).status == status


def test_npy_contents_report_the_largest_difference() -> None:
    def npy(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()

    base = np.linspace(0, 100, 1000)
    found = compare_contents("p.npy", npy(base), npy(base + 1e-13), atol=1e-9, rtol=0.0)
    assert found.status == "within_tolerance"
    assert found.max_abs_diff == pytest.approx(1e-13, rel=0.5)
    assert compare_contents("p.npy", npy(base), npy(base + 1.0), atol=1e-9, rtol=0.0).status == "different"


def test_unreadable_json_is_different_not_an_error() -> None:
    assert compare_contents("x.json", b"{", b"{}", atol=0.0, rtol=0.0).status == "different"


def test_prediction_noise_at_round_off_is_measured() -> None:
    rng = np.random.default_rng(0)
    original = rng.normal(100.0, 10.0, size=500)
    noisy = original + rng.choice([0.0, 2.8e-14], size=500)
    delta = compare_predictions(original, noisy, Tolerance(atol=1e-6))
    assert delta is not None
    assert delta.status == "within_tolerance"
    assert 0 < (delta.n_different or 0) < 500
    assert delta.max_rel_diff is not None and delta.max_rel_diff < 1e-12
    strict = compare_predictions(original, noisy, Tolerance(atol=0.0))
    assert strict is not None and strict.status == "different"


def test_predictions_compared_by_fingerprint_when_values_are_gone() -> None:
    a, b = np.arange(5.0), np.arange(5.0) + 1
    same = compare_predictions(None, None, Tolerance(), fingerprint_predictions(a), fingerprint_predictions(a))
    other = compare_predictions(None, None, Tolerance(), fingerprint_predictions(a), fingerprint_predictions(b))
    assert same is not None and same.status == "identical"
    assert other is not None and other.status == "different"
    assert compare_predictions(None, None, Tolerance()) is None
    one_side = compare_predictions(a, None, Tolerance())
    assert one_side is not None and one_side.status == "missing"


def test_class_label_predictions() -> None:
    a = np.array(["cat", "dog", "cat"])
    delta = compare_predictions(a, np.array(["cat", "cat", "cat"]), Tolerance())
    assert delta is not None and delta.status == "different" and delta.n_different == 1


def test_shape_change_is_different() -> None:
    delta = compare_predictions(np.zeros(4), np.zeros(5), Tolerance())
    assert delta is not None and delta.status == "different" and "shape" in (delta.detail or "")


def test_tolerance_rejects_negative_values() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        Tolerance(atol=-1.0)
