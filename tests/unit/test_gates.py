"""Quality gates: parsing, evaluation in both directions, and reading them from reprise.toml and params.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprise.errors import ConfigError
from reprise.registry.gates import Gate, evaluate_gates, load_gates, parse_gate


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold"),
    [
        ("accuracy >= 0.85", "accuracy", ">=", 0.85),
        ("f1_macro>0.8", "f1_macro", ">", 0.8),
        ("  rmse <= 1e-2 ", "rmse", "<=", 0.01),
        ("val.loss < .5", "val.loss", "<", 0.5),
        ("delta == -3", "delta", "==", -3.0),
    ],
    ids=["ge", "gt-no-spaces", "le-scientific", "lt-dotted-name", "eq-negative"],
)
def test_parse_gate_reads_every_operator(text: str, metric: str, op: str, threshold: float) -> None:
    assert parse_gate(text) == Gate(metric=metric, op=op, threshold=threshold)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["accuracy >> 0.8", "accuracy >= high", "accuracy", ">= 0.8", "accuracy => 0.8", ""], ids=repr
)
def test_a_malformed_gate_is_a_config_error_naming_where_and_what(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_gate(text, where="params.yaml gates[0]")
    assert "params.yaml gates[0]" in info.value.message
    assert repr(text) in info.value.message
    assert info.value.hint is not None
    assert "accuracy >= 0.85" in info.value.hint


def test_the_mapping_form_takes_the_metric_from_the_key() -> None:
    assert parse_gate(">= 0.9", metric="accuracy") == Gate(metric="accuracy", op=">=", threshold=0.9)
    assert parse_gate("accuracy >= 0.9", metric="accuracy").metric == "accuracy"
    with pytest.raises(ConfigError, match="names 'f1' under the key 'accuracy'"):
        parse_gate("f1 >= 0.9", metric="accuracy")


@pytest.mark.parametrize(
    ("gate", "actual", "passed", "shortfall"),
    [
        ("accuracy >= 0.85", 0.9, True, None),
        ("accuracy >= 0.85", 0.85, True, None),
        ("accuracy >= 0.85", 0.80, False, 0.05),
        ("accuracy > 0.85", 0.85, False, 0.0),
        ("rmse <= 0.3", 0.25, True, None),
        ("rmse <= 0.3", 0.42, False, 0.12),
        ("rmse < 0.3", 0.3, False, 0.0),
        ("n == 3", 3.0000000000001, True, None),
        ("n == 3", 2.5, False, 0.5),
    ],
)
def test_gates_hold_or_fail_by_how_much_in_both_directions(
    gate: str, actual: float, passed: bool, shortfall: float | None
) -> None:
    result = parse_gate(gate).check(actual)
    assert result.passed is passed
    assert result.shortfall == (None if shortfall is None else pytest.approx(shortfall))


def test_a_report_over_several_metrics_says_which_failed_and_by_how_much() -> None:
    gates = [parse_gate("accuracy >= 0.9"), parse_gate("f1_macro >= 0.8"), parse_gate("rmse <= 0.2")]
    report = evaluate_gates(gates, {"accuracy": 0.87, "f1_macro": 0.81})
    assert report.status == "failed"
    assert [result.gate.metric for result in report.failures] == ["accuracy", "rmse"]
    assert report.describe_failures() == (
        "accuracy >= 0.9: actual 0.87, short by 0.03; rmse <= 0.2: metric 'rmse' was not logged (or is NaN)"
    )
    assert evaluate_gates(gates[:2], {"accuracy": 0.95, "f1_macro": 0.81}).status == "passed"
    assert evaluate_gates([], {"accuracy": 0.1}).status == "not_evaluated"
    assert not evaluate_gates([], {}).passed


def test_a_nan_metric_fails_its_gate_and_stays_json_safe() -> None:
    from reprise._canonical import canonical_json

    report = evaluate_gates([parse_gate("accuracy >= 0.5")], {"accuracy": float("nan")})
    assert report.status == "failed"
    assert report.describe_failures() == "accuracy >= 0.5: metric 'accuracy' was not logged (or is NaN)"
    assert '"actual":null' in canonical_json(report.model_dump(mode="json"))


def _project(tmp_path: Path, toml: str = "", params: str | None = None) -> Path:
    (tmp_path / "reprise.toml").write_text(toml)
    if params is not None:
        (tmp_path / "params.yaml").write_text(params)
    return tmp_path


def test_gates_come_from_reprise_toml_and_params_yaml(tmp_path: Path) -> None:
    toml = 'seed = 1\n[gates]\naccuracy = ">= 0.85"\nrmse = ["<= 0.3", "> 0"]\n'
    params = "train:\n  metric: f1\ngates:\n  - f1_macro >= 0.80\n  - recall: '>= 0.5'\n"
    gates = load_gates(_project(tmp_path, toml, params))
    assert [str(gate) for gate in gates] == [
        "accuracy >= 0.85",
        "rmse <= 0.3",
        "rmse > 0",
        "f1_macro >= 0.8",
        "recall >= 0.5",
    ]


def test_params_yaml_mapping_form_as_the_quickstart_writes_it(tmp_path: Path) -> None:
    gates = load_gates(_project(tmp_path, params='gates:\n  accuracy: ">= 0.90"\n  f1_macro: ">= 0.90"\n'))
    assert [str(gate) for gate in gates] == ["accuracy >= 0.9", "f1_macro >= 0.9"]


def test_pyproject_tool_table_holds_gates_too(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.reprise]\nseed = 3\n[tool.reprise.gates]\nauc = "> 0.7"\n')
    assert [str(gate) for gate in load_gates(tmp_path)] == ["auc > 0.7"]


def test_no_gates_anywhere_is_an_empty_tuple(tmp_path: Path) -> None:
    assert load_gates(_project(tmp_path, params="train: {}\n")) == ()
    assert load_gates(_project(tmp_path, params="gates:\n")) == ()


@pytest.mark.parametrize(
    ("toml", "params", "message"),
    [
        ("", "gates:\n  - accuracy >> 0.8\n", "params.yaml gates[0]: cannot parse gate 'accuracy >> 0.8'"),
        ("", "gates:\n  accuracy: 0.8\n", "params.yaml gates accuracy: gate 0.8 has no comparison"),
        ("[gates]\naccuracy = 0.8\n", None, "reprise.toml [gates] accuracy: gate 0.8 has no comparison"),
        ('[gates]\nf1 = "=> 1"\n', None, "reprise.toml [gates] f1: cannot parse gate '=> 1'"),
        ("", "gates: accuracy >= 0.8\n", "params.yaml: 'gates' must be a list or a mapping"),
        ("", "gates: [unclosed\n", "cannot read gates from"),
        ('[gates]\nacc = ">= 0.8"\n', "gates:\n  acc: '>= 0.9'\n", "gates for acc are set in both"),
    ],
    ids=["yaml-syntax", "yaml-bare-number", "toml-bare-number", "toml-bad-op", "yaml-scalar", "yaml-invalid", "clash"],
)
def test_malformed_gate_config_names_the_file_and_the_gate(
    tmp_path: Path, toml: str, params: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_gates(_project(tmp_path, toml, params))
    assert message in info.value.message
    assert "\n" not in info.value.message.strip()


def test_a_gates_key_that_is_not_a_table_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_gates(_project(tmp_path, 'gates = ["accuracy >= 0.8"]\n'))
