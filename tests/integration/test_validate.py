"""Validation against a reference, on runs captured in-process into a real MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import reprise
from reprise.config import load_settings
from reprise.reproduce.compare import Tolerance
from reprise.reproduce.validate import save_reference, validate_run


def _run(project: Path, metrics: dict[str, float], predictions: np.ndarray | None) -> str:
    settings = load_settings(project)
    with reprise.start_run(settings=settings) as run:
        run.log_metrics(metrics)
        if predictions is not None:
            run.log_predictions(predictions)
    return run.run_id


@pytest.fixture
def runs(tmp_project: Path) -> dict[str, str]:
    base = np.linspace(0.0, 1.0, 5000)
    metrics = {"accuracy": 0.9, "f1_macro": 0.85, "rmse": 0.5, "zeta": 1.0}
    return {
        "first": _run(tmp_project, metrics, base),
        "same": _run(tmp_project, metrics, base.copy()),
        "close": _run(tmp_project, {**metrics, "rmse": 0.5 + 1e-9}, base + 1e-12),
        "far": _run(tmp_project, {**metrics, "accuracy": 0.8}, base[::-1].copy()),
        "shorter": _run(tmp_project, metrics, base[:100]),
        "no-predictions": _run(tmp_project, metrics, None),
    }


def test_a_reference_round_trips_and_gates(tmp_project: Path, runs: dict[str, str]) -> None:
    path = tmp_project / "reference.json"
    reference = save_reference(path, run_id=runs["first"], sample_size=300)
    assert reference.predictions is not None and len(reference.predictions.indices) == 300
    assert reference.predictions.indices[0] == 0 and reference.predictions.indices[-1] == 4999
    assert json.loads(path.read_text())["metrics"] == reference.metrics
    same = validate_run(runs["same"], reference_file=path)
    assert same.passed and same.exit_code == 0
    assert [m.name for m in same.metrics] == ["accuracy", "f1_macro", "rmse", "zeta"]  # known metrics first
    assert same.predictions is not None and same.predictions.status == "identical"
    close = validate_run(runs["close"], reference_file=path)
    assert close.passed  # within the default 1e-6
    strict = validate_run(runs["close"], reference_file=path, tolerance=Tolerance(atol=0.0))
    assert not strict.passed
    assert strict.failures[0] == "rmse: 0.5 -> 0.500000001 (different)"
    assert strict.failures[1].startswith("predictions: 300 of 300 values differ, max |Δ| 1e-12 (relative 2e-12)")
    far = validate_run(runs["far"], reference_file=path)
    assert not far.passed and far.exit_code == 1
    assert "accuracy: 0.9 -> 0.8 (different)" in far.failures


def test_predictions_missing_or_reshaped_fail(tmp_project: Path, runs: dict[str, str]) -> None:
    path = tmp_project / "reference.json"
    save_reference(path, run_id=runs["first"])
    shorter = validate_run(runs["shorter"], reference_file=path)
    assert shorter.predictions is not None and shorter.predictions.detail == "shape [5000] vs [100]"
    assert not shorter.passed
    gone = validate_run(runs["no-predictions"], reference_file=path)
    assert gone.predictions is not None and gone.predictions.status == "missing"
    assert not gone.passed


def test_a_hand_written_reference_checks_only_its_metrics(tmp_project: Path, runs: dict[str, str]) -> None:
    path = tmp_project / "expected.json"
    path.write_text('{"accuracy": 0.9}')
    report = validate_run(runs["far"], reference_file=path, tolerance=Tolerance(atol=0.2))
    assert report.passed
    assert {m.name: m.status for m in report.metrics}["f1_macro"] == "added"  # shown, not judged
    assert report.predictions is None


def test_against_another_run_all_predictions_are_compared(tmp_project: Path, runs: dict[str, str]) -> None:
    report = validate_run(runs["close"], reference_run_id=runs["first"], tolerance=Tolerance(atol=1e-6))
    assert report.passed
    assert report.predictions is not None and report.predictions.n_total == 5000


def test_the_latest_captured_run_is_the_default(tmp_project: Path, runs: dict[str, str]) -> None:
    path = tmp_project / "reference.json"
    reference = save_reference(path)
    assert reference.run_id == runs["no-predictions"]
    assert validate_run(reference_file=path).run_id == runs["no-predictions"]
