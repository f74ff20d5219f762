"""The ONNX deployable form of constrained AutoML against real components: skl2onnx and ONNX Runtime, the MLflow
SQLite store, the registry, and the loader ``reprise serve`` uses. Data is generated here; searches are tiny."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reprise.automl.evaluate import fit_model, split_data
from reprise.automl.onnx_form import check_equivalence, run_onnx, to_onnx
from reprise.automl.presets import resolve_constraints


def _sensors(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["temperature", "vibration", "pressure"])
    frame["site"] = rng.choice(["north", "south", "east"], size=rows)
    logit = 2.0 * frame["temperature"] - frame["vibration"] + (frame["site"] == "north") - 0.5
    return frame, (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()


def _tamper(proto: object, op_type: str, attribute: str) -> object:
    """A copy of ``proto`` whose first ``op_type`` node has every value of float list ``attribute`` changed."""
    import onnx

    tampered = onnx.ModelProto()
    tampered.CopyFrom(proto)  # type: ignore[arg-type]
    node = next(node for node in tampered.graph.node if node.op_type == op_type)
    found = next(item for item in node.attribute if item.name == attribute)
    found.floats[:] = [value * 1.5 + 0.3 for value in found.floats]
    return tampered


def test_the_onnx_form_is_accepted_when_equivalent_and_refused_with_the_rows_when_a_conversion_differs() -> None:
    frame, target = _sensors()
    constraints = resolve_constraints("predictive_maintenance")
    data = split_data(frame, target, constraints, seed=1)
    model = fit_model({"family": "logistic_regression", "lr_C": 1.0}, data, data.train, seed=2)
    proto = to_onnx(model, data)
    accepted = check_equivalence(model, proto, data)
    assert accepted.equivalent and accepted.rows_checked == len(data.test) == 60
    assert accepted.max_probability_gap is not None and accepted.max_probability_gap < 1e-4
    assert accepted.describe() == "same answers on 60 held-out rows"

    # The scaler of the converted graph made to differ: probabilities move on every row, labels on some.
    refused = check_equivalence(model, _tamper(proto, "Scaler", "offset"), data)
    assert not refused.equivalent and refused.differing > 0
    answered = run_onnx(_tamper(proto, "Scaler", "offset"), frame.iloc[list(refused.rows)])
    ours = model.predict_proba(frame.iloc[list(refused.rows)])[:, 1]
    assert np.all(np.abs(answered["probability:1"][:, 0] - ours) > 1e-4)  # every named row really differs
    assert set(refused.rows) <= set(data.test.tolist())
    assert refused.max_probability_gap is not None and refused.max_probability_gap > 1e-4
    assert f"{refused.differing} of 60 held-out rows differ" in refused.describe()
    assert f"rows {', '.join(map(str, refused.rows))}" in refused.describe()


def test_a_numbers_only_pipeline_converts_too() -> None:
    # skl2onnx lowers the graph's opset to what it needs (11 here): the column inputs must still reshape.
    frame, target = _sensors()
    constraints = resolve_constraints("predictive_maintenance")
    data = split_data(frame.drop(columns=["site"]), target, constraints, seed=1)
    params = {"family": "random_forest", "rf_n_estimators": 10, "rf_max_depth": 4, "rf_min_samples_leaf": 2}
    model = fit_model(params, data, data.train, seed=2)
    proto = to_onnx(model, data)
    assert min(opset.version for opset in proto.opset_import if opset.domain == "") < 13
    assert check_equivalence(model, proto, data).equivalent


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        # LOF: the neighbourhoods change, so the ranking does.
        ({"family": "local_outlier_factor", "lof_n_neighbors": 10}, "score rank correlation"),
        # The z-score's ranks barely move (it is scale-free per feature), but its threshold does: labels flip.
        ({"family": "robust_zscore", "zs_aggregate": "max"}, "labels differ"),
    ],
    ids=["lof", "robust-zscore"],
)
def test_an_anomaly_detectors_onnx_form_is_refused_when_its_answers_change(
    params: dict[str, object], reason: str
) -> None:
    frame, _ = _sensors(seed=3)
    constraints = resolve_constraints("anomaly_detection")
    data = split_data(frame.drop(columns=["site"]), None, constraints, seed=1)
    model = fit_model(params, data, data.train, seed=2)
    proto = to_onnx(model, data)
    accepted = check_equivalence(model, proto, data)
    assert accepted.equivalent and accepted.rank_correlation is not None and accepted.rank_correlation >= 0.999
    refused = check_equivalence(model, _tamper(proto, "Scaler", "scale"), data)
    assert not refused.equivalent and refused.rows and set(refused.rows) <= set(data.test.tolist())
    assert reason in refused.describe()
    assert f"rows {', '.join(map(str, refused.rows))}" in refused.describe()


def test_a_native_model_over_the_size_limit_ships_as_onnx_and_serve_loads_it_without_pickle(
    tmp_project: Path,
) -> None:
    from reprise.automl.measure import measure_model
    from reprise.automl.search import automl
    from reprise.config import load_settings
    from reprise.registry.resolve import describe_version
    from reprise.tracking.serving import load_servable

    frame, target = _sensors()
    frame["failure"] = target
    data_file = tmp_project / "sensors.csv"
    frame.to_csv(data_file, index=False)
    fast = 'families = ["logistic_regression"]\ncv_folds = 2\nlatency_rows = 5\nwarmup_rows = 2\n'
    fast += 'max_latency_ms = 10000.0\nforms = ["native", "onnx"]\n'
    # Size limit halfway between the two forms of the starting configuration, measured here as the search will.
    constraints = resolve_constraints("predictive_maintenance").model_copy(
        update={"families": ("logistic_regression",), "latency_rows": 2, "warmup_rows": 1}
    )
    data = split_data(frame.drop(columns=["failure"]), target, constraints, seed=7)
    model = fit_model({"family": "logistic_regression", "lr_C": 1.0}, data, data.train, seed=1)
    native = measure_model(model, "glass_box", data, constraints, 1).size_bytes
    predictions = model.predict(data.features.iloc[data.train[:5]])
    onnx = measure_model(to_onnx(model, data), "glass_box", data, constraints, 1, predictions=predictions).size_bytes
    assert onnx < native
    extra = tmp_project / "fast.toml"
    extra.write_text(fast + f"max_size_mb = {(native + onnx) / 2e6}\n")

    settings = load_settings()
    result = automl(data_file, "failure", constraints_file=extra, trials=2, batch=2, seed=7, settings=settings)
    for trial in result.trials:
        native_form, onnx_form = trial.forms
        assert native_form.form == "native" and not native_form.feasible
        assert [check.name for check in native_form.checks if not check.ok] == ["size_mb"]
        assert onnx_form.feasible and onnx_form.equivalence is not None and onnx_form.equivalence.equivalent
        assert trial.form == "onnx" and trial.feasible and trial.measurement.model_format == "onnx"
    winner = result.winner
    assert winner.registered and winner.measurement is not None and winner.measurement.model_format == "onnx"

    # Serve's own loader: no --allow-pickle needed, and the answers are the pipeline's.
    version = describe_version(settings, winner.model_name or "", winner.version or 0)
    served = load_servable(settings, version, allow_pickle=False)
    served.close()  # its files: the model is in memory
    assert served.spec.model_format == "onnx" and served.classes == ("0", "1")
    rows = data.features.iloc[data.test]
    refit = fit_model(result.trials[winner.trial or 0].params, data, data.train, result.trials[winner.trial or 0].seed)
    answered = served.predict_rows(rows.to_dict(orient="records"))
    assert answered.values == refit.predict(rows).tolist()
    assert answered.probabilities is not None
    gaps = np.abs(np.array([row["1"] for row in answered.probabilities]) - refit.predict_proba(rows)[:, 1])
    assert gaps.max() < 1e-4
