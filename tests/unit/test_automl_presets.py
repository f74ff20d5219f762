"""Presets are data: shipped TOML files, combined by the stricter limit, overridden by a constraints file."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import pytest

from reprise.automl.families import check_families
from reprise.automl.presets import list_presets, resolve_constraints
from reprise.errors import ConfigError


def test_every_shipped_preset_loads_and_names_its_kind() -> None:
    presets = list_presets()
    assert set(presets) >= {"predictive_maintenance", "quality_control", "anomaly_detection", "edge", "cloud"}
    assert {presets[name].kind for name in ("edge", "cloud")} == {"environment"}


@pytest.mark.parametrize(
    ("use_case", "environment", "expected"),
    [
        ("predictive_maintenance", "edge", {"max_size_mb": 10.0, "max_latency_ms": 50.0, "threads": 1}),
        # quality_control's 50 ms beats cloud's 200 ms; cloud brings the size limit quality_control lacks.
        ("quality_control", "cloud", {"max_size_mb": 500.0, "max_latency_ms": 50.0, "min_precision": 0.9}),
        ("predictive_maintenance", "cloud", {"max_size_mb": 50.0, "max_latency_ms": 100.0}),
        ("predictive_maintenance", None, {"max_size_mb": 50.0, "max_latency_ms": 100.0}),
    ],
    ids=["pm+edge", "qc+cloud", "pm+cloud", "pm-alone"],
)
def test_a_use_case_and_an_environment_combine_by_the_stricter_limit(
    use_case: str, environment: str | None, expected: dict[str, float]
) -> None:
    constraints = resolve_constraints(use_case, environment)
    assert {key: getattr(constraints, key) for key in expected} == expected


def test_the_stricter_interpretability_class_wins(tmp_path: Path) -> None:
    loose = tmp_path / "loose.toml"
    loose.write_text('interpretability = "opaque"\nfamilies = ["mlp", "logistic_regression"]\n')
    constraints = resolve_constraints("predictive_maintenance", None, loose)
    assert constraints.interpretability == "opaque"  # a constraints file overrides, by design
    assert check_families(["mlp", "logistic_regression"], "classification", "explainable") == ("logistic_regression",)


def test_every_source_is_recorded_with_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    override = tmp_path / "plant.toml"
    override.write_bytes(b"max_latency_ms = 20.0\nlatency_rows = 50\n")
    constraints = resolve_constraints("predictive_maintenance", "edge", override)
    shipped = resources.files("reprise.automl") / "presets"
    expected = [
        ("predictive_maintenance", hashlib.sha256((shipped / "predictive_maintenance.toml").read_bytes()).hexdigest()),
        ("edge", hashlib.sha256((shipped / "edge.toml").read_bytes()).hexdigest()),
        (str(override), hashlib.sha256(override.read_bytes()).hexdigest()),
    ]
    assert [(source.id, source.sha256) for source in constraints.sources] == expected
    assert (constraints.max_latency_ms, constraints.max_size_mb, constraints.latency_rows) == (20.0, 10.0, 50)


def test_unknown_presets_fields_and_kinds_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no AutoML preset 'factory'"):
        resolve_constraints("factory")
    with pytest.raises(ConfigError, match="environment preset, not a use case"):
        resolve_constraints("edge")
    with pytest.raises(ConfigError, match="not an environment"):
        resolve_constraints("quality_control", "predictive_maintenance")
    bad = tmp_path / "bad.toml"
    bad.write_text("max_latency_msec = 3\n")
    with pytest.raises(ConfigError, match="max_latency_msec"):
        resolve_constraints("quality_control", None, bad)
