"""Request schemas built from a signature, the words of validation errors, and the Prometheus text."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from reprise.errors import ConfigError
from reprise.serve.metrics import ServiceMetrics
from reprise.serve.options import ServeOptions
from reprise.serve.schemas import FLOAT32_MAX, RequestSchemas, build_schemas, describe_problems
from reprise.tracking.serving import ColumnSpec, ModelSpec, ServedVersion

SPEC = ModelSpec(
    inputs=(
        ColumnSpec("petal length (cm)", "double"),
        ColumnSpec("age", "long"),
        ColumnSpec("smoker", "boolean"),
        ColumnSpec("city", "string"),
        ColumnSpec("bmi", "double", required=False),
    ),
    output_type="long",
    signature={},
    flavors=("sklearn",),
)
GOOD: dict[str, Any] = {"petal length (cm)": 1.5, "age": 41, "smoker": False, "city": "Lima"}


@pytest.fixture(scope="module")
def schemas() -> RequestSchemas:
    return build_schemas(SPEC, max_batch_records=3)


def _problems(schemas: RequestSchemas, model: Any, body: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    errors = [{**error, "loc": ("body", *error["loc"])} for error in caught.value.errors()]
    return [(p.field, p.type, p.problem) for p in describe_problems(errors, schemas.types)]


def test_a_valid_record_keeps_feature_names_and_optional_features_default_to_null(schemas: RequestSchemas) -> None:
    record = schemas.record.model_validate({**GOOD, "age": 7})
    assert record.model_dump(by_alias=True) == {**GOOD, "age": 7, "bmi": None}
    assert schemas.record.model_validate({**GOOD, "bmi": 22.5}).model_dump(by_alias=True)["bmi"] == 22.5
    with pytest.raises(ValidationError):
        schemas.record.model_validate({**GOOD, "bmi": math.nan})


@pytest.mark.parametrize(
    ("change", "field", "kind", "words"),
    [
        ({"age": None}, "age", "wrong_type", "expected integer (MLflow type long), got null"),
        ({"petal length (cm)": "1.5"}, "petal length (cm)", "wrong_type", 'got string "1.5"'),
        ({"age": 4.5}, "age", "wrong_type", "expected integer"),
        ({"smoker": 1}, "smoker", "wrong_type", "expected boolean"),
        ({"city": 3}, "city", "wrong_type", "expected string"),
        ({"petal length (cm)": math.nan}, "petal length (cm)", "not_finite", "NaN is not allowed"),
        ({"petal length (cm)": math.inf}, "petal length (cm)", "not_finite", "Infinity is not allowed"),
        ({"petal length (cm)": 1e39}, "petal length (cm)", "out_of_range", "beyond the accepted limit"),
        ({"age": 2**64}, "age", "out_of_range", "beyond the accepted limit"),
        ({"colour": "red"}, "colour", "unknown_feature", "not in the model signature (features: petal length"),
    ],
    ids=["null", "string-for-number", "float-for-int", "int-for-bool", "int-for-string", "nan", "inf",
         "over-float32", "over-int64", "unknown"],
)  # fmt: skip
def test_each_bad_feature_is_named_with_its_problem(
    schemas: RequestSchemas, change: dict[str, Any], field: str, kind: str, words: str
) -> None:
    [(where, what, problem)] = _problems(schemas, schemas.record, {**GOOD, **change})
    assert (where, what) == (field, kind)
    assert words in problem


def test_values_are_quoted_as_json_with_no_python_spelling(schemas: RequestSchemas) -> None:
    [(_, _, null)] = _problems(schemas, schemas.record, {**GOOD, "age": None})
    [(_, _, text)] = _problems(schemas, schemas.record, {**GOOD, "smoker": "yes"})
    assert null == "wrong type: expected integer (MLflow type long), got null"
    assert text == 'wrong type: expected boolean (MLflow type boolean), got string "yes"'


def test_a_missing_feature_is_named(schemas: RequestSchemas) -> None:
    body = {key: value for key, value in GOOD.items() if key != "city"}
    assert _problems(schemas, schemas.record, body) == [
        ("city", "missing", "missing feature: the model needs it (string)")
    ]


def test_batch_problems_point_at_the_record(schemas: RequestSchemas) -> None:
    assert _problems(schemas, schemas.batch, {"records": []})[0][:2] == ("records", "empty_batch")
    too_many = _problems(schemas, schemas.batch, {"records": [GOOD] * 4})
    assert too_many == [("records", "batch_too_large", "batch of 4 records is over the limit of 3")]
    [(field, kind, _)] = _problems(schemas, schemas.batch, {"records": [GOOD, {**GOOD, "age": "x"}]})
    assert (field, kind) == ("records[1].age", "wrong_type")
    assert _problems(schemas, schemas.batch, [GOOD])[0][:2] == ("body", "not_an_object")


def test_malformed_json_is_described_with_its_position() -> None:
    error = {"type": "json_invalid", "loc": ("body", 7), "msg": "JSON decode error", "ctx": {"error": "Expecting ','"}}
    [problem] = describe_problems([error], {})
    assert (problem.field, problem.type) == ("body", "malformed_json")
    assert problem.problem == "malformed JSON: Expecting ',' (at character 7)"


def test_the_json_schema_names_every_feature_and_forbids_others(schemas: RequestSchemas) -> None:
    schema = schemas.record.model_json_schema()
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["petal length (cm)", "age", "smoker", "city"]
    length = schema["properties"]["petal length (cm)"]
    assert (length["type"], length["maximum"]) == ("number", FLOAT32_MAX)
    assert schema["properties"]["age"]["type"] == "integer"
    batch = schemas.batch.model_json_schema()
    assert (batch["properties"]["records"]["minItems"], batch["properties"]["records"]["maxItems"]) == (1, 3)
    answer = schemas.prediction.model_json_schema()
    assert answer["properties"]["prediction"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]


def test_metrics_render_the_prometheus_text_format() -> None:
    metrics = ServiceMetrics()
    metrics.observe_request("/predict", "POST", 200, 0.003)
    metrics.observe_request("/predict", "POST", 200, 0.3)
    metrics.observe_request("/predict", "POST", 422, 0.001)
    metrics.observe_reload("success")
    metrics.set_served(ServedVersion(name='m"x', version=3, alias="champion", run_id="abc", source="s"))
    text = metrics.render()
    lines = text.splitlines()
    assert "# TYPE reprise_http_requests_total counter" in lines
    assert 'reprise_http_requests_total{endpoint="/predict",method="POST",status="200"} 2' in lines
    assert 'reprise_http_requests_total{endpoint="/predict",method="POST",status="422"} 1' in lines
    assert "# TYPE reprise_http_request_duration_seconds histogram" in lines
    bucket = 'reprise_http_request_duration_seconds_bucket{endpoint="/predict",method="POST",le="0.005"} 2'
    assert bucket in lines
    assert 'reprise_http_request_duration_seconds_bucket{endpoint="/predict",method="POST",le="+Inf"} 3' in lines
    assert 'reprise_http_request_duration_seconds_count{endpoint="/predict",method="POST"} 3' in lines
    assert 'reprise_model_version{name="m\\"x",alias="champion"} 3' in lines
    assert 'reprise_model_loads_total{result="success"} 1' in lines
    assert text.endswith("\n")
    for line in lines:
        assert line.startswith("#") or float(line.rsplit(" ", 1)[1]) >= 0


def test_options_round_trip_and_refuse_nonsense() -> None:
    options = ServeOptions(reload_interval=0.5, batching=False)
    assert ServeOptions.from_json(options.to_json()) == options
    assert json.loads(options.to_json())["batching"] is False
    with pytest.raises(ConfigError, match="max_batch_records"):
        ServeOptions(max_batch_records=0)
    with pytest.raises(ConfigError, match="unknown serve options"):
        ServeOptions.from_json('{"nope": 1}')


def test_health_and_failure_models_forbid_extra_fields() -> None:
    from reprise.serve.schemas import Failure, HealthStatus

    with pytest.raises(ValidationError):
        HealthStatus.model_validate({"status": "ready", "ready": True, "extra": 1})
    with pytest.raises(ValidationError):
        Failure.model_validate({"error": {"code": "x", "message": "y", "stack": "no"}})
    assert HealthStatus(status="loading", ready=False, last_check_at=datetime.now(UTC)).live
