"""The canonical spec of a feature pipeline: one JSON form per recipe, rebuilt exactly, never running foreign code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

from reprise._canonical import canonical_json, digest
from reprise.errors import VersioningError
from reprise.versioning.pipeline_spec import build_pipeline, load_pipeline_source, spec_of


def _rich() -> Pipeline:
    columns = ColumnTransformer(
        [
            ("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), ["age", "income"]),
            ("cat", OneHotEncoder(categories=[np.array(["a", "b"])], handle_unknown="ignore"), ["city"]),
            ("log", FunctionTransformer(np.log1p), slice(0, 2)),
        ],
        transformer_weights={"num": 2.0},
    )
    return Pipeline([("columns", columns), ("range", MinMaxScaler(feature_range=(0, 2)))])


def test_a_spec_names_types_by_public_path_and_writes_every_parameter_out() -> None:
    spec = spec_of(Pipeline([("scale", StandardScaler(with_std=False))]))
    assert spec == {
        "type": "sklearn.pipeline.Pipeline",
        "params": {
            "memory": None,
            "steps": [
                {
                    "tuple": [
                        "scale",
                        {
                            "type": "sklearn.preprocessing.StandardScaler",
                            "params": {"copy": True, "with_mean": True, "with_std": False},
                        },
                    ]
                }
            ],
            "transform_input": None,
            "verbose": False,
        },
    }


def test_a_spec_rebuilds_the_same_pipeline_and_is_plain_json() -> None:
    spec = spec_of(_rich())
    text = canonical_json(spec)  # NaN, tuples, classes and slices all have a JSON form
    assert json.loads(text) == spec
    rebuilt = build_pipeline(spec)
    assert spec_of(rebuilt) == spec
    assert rebuilt.named_steps["range"].feature_range == (0, 2)
    assert rebuilt.named_steps["columns"].transformers[2][2] == slice(0, 2)
    assert rebuilt.named_steps["columns"].transformers[2][1].func is np.log1p
    assert np.isnan(rebuilt.named_steps["columns"].transformers[0][1].named_steps["impute"].missing_values)


def test_declarative_steps_and_the_object_they_describe_have_one_digest() -> None:
    steps = [
        {"name": "impute", "type": "sklearn.impute.SimpleImputer", "params": {"strategy": "median"}},
        {"name": "scale", "type": "sklearn.preprocessing._data.StandardScaler"},
    ]
    made = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    assert digest(spec_of(steps)) == digest(spec_of(made))
    assert digest(spec_of(steps)) != digest(
        spec_of(Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]))
    )


def test_fitted_state_does_not_enter_the_spec() -> None:
    fitted = Pipeline([("scale", StandardScaler())]).fit(np.arange(12.0).reshape(6, 2))
    assert spec_of(fitted) == spec_of(Pipeline([("scale", StandardScaler())]))


def _local_function(values: np.ndarray) -> np.ndarray:
    return values


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (FunctionTransformer(lambda x: x), r"cannot be named by an import path"),
        ("StandardScaler", r"cannot version a str as a pipeline"),
        ([], r"at least one step"),
        ([{"name": "s"}], r"step 1 is not a mapping with a name and a type"),
        ([{"name": "s", "type": "sklearn.preprocessing.StandardScaler", "with": 1}], r"unknown keys \['with'\]"),
        ([{"name": "s", "type": "os.system", "params": {"command": "true"}}], r"os\.system is not a scikit-learn"),
        ([{"name": "s", "type": "sklearn.nope.Nothing"}], r"cannot import sklearn\.nope\.Nothing"),
        ([{"name": "s", "type": "sklearn.preprocessing.StandardScaler", "params": {"bad": 1}}], r"refused its params"),
        ([{"name": "s", "type": "sklearn.impute.SimpleImputer", "params": {"fill_value": {"x": 1}}}], r"keys \['x'\]"),
        (Pipeline([("f", FunctionTransformer(kw_args={"a": object()}))]), r"object, which has no JSON form"),
    ],
    ids=range(10),
)
def test_what_has_no_spec_is_refused_naming_where(value: object, message: str) -> None:
    with pytest.raises(VersioningError, match=message):
        spec_of(value)


def test_steps_load_from_json_yaml_and_a_python_module(tmp_path: Path) -> None:
    steps = [{"name": "scale", "type": "sklearn.preprocessing.StandardScaler"}]
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    (tmp_path / "steps.yaml").write_text("- name: scale\n  type: sklearn.preprocessing.StandardScaler\n")
    module = tmp_path / "reprise_spec_features.py"
    module.write_text(
        "from sklearn.preprocessing import StandardScaler\nfrom sklearn.pipeline import Pipeline\n"
        "pipeline = Pipeline([('scale', StandardScaler())])\n"
    )
    wanted = spec_of(steps)
    assert spec_of(load_pipeline_source(str(tmp_path / "steps.json"), tmp_path)) == wanted
    assert spec_of(load_pipeline_source(str(tmp_path / "steps.yaml"), tmp_path)) == wanted
    assert spec_of(load_pipeline_source("reprise_spec_features:pipeline", tmp_path)) == wanted
    # Edited in the same process (a notebook): the current source is what gets versioned.
    module.write_text(module.read_text().replace("StandardScaler()", "StandardScaler(with_mean=False)"))
    changed = spec_of(load_pipeline_source("reprise_spec_features:pipeline", tmp_path))
    assert changed["params"]["steps"][0]["tuple"][1]["params"]["with_mean"] is False


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing.yaml", r"steps in /.*/missing\.yaml: No such file or directory"),
        ("bad.yaml", r"cannot read the pipeline steps"),
        ("map.json", r"does not hold a list of steps"),
        ("steps.txt", r"neither a \.json/\.yaml file nor module:attribute"),
        ("no_such_module_here:pipeline", r"cannot import pipeline from no_such_module_here"),
    ],
)
def test_a_bad_source_is_one_line(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text("- [unclosed\n")
    (tmp_path / "map.json").write_text('{"name": "scale"}')
    with pytest.raises(VersioningError, match=message):
        load_pipeline_source(str(tmp_path / source) if "." in source else source, tmp_path)
