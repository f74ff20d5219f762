"""Tabular profiles: schemas, column changes, PSI/KS drift with thresholds, and the self-contained HTML report."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from reprise.data.checks import ManifestDiff
from reprise.data.diff import DataDiff
from reprise.data.profile import (
    DriftThresholds,
    compare_tables,
    is_tabular,
    population_stability_index,
    read_schema,
)
from reprise.data.report import render_html
from reprise.errors import DataError


def _csv(path: Path, columns: dict[str, list[object]]) -> Path:
    names = list(columns)
    rows = zip(*(columns[name] for name in names), strict=True)
    path.write_text(",".join(names) + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


def test_schema_of_csv_and_parquet(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "t.csv", {"age": [1, 2, 3], "name": ["a", "b", "c"], "score": [0.5, 1.5, 2.5]})
    schema = read_schema(csv, "t.csv")
    assert (schema.format, schema.rows) == ("csv", 3)
    assert [(c.name, c.dtype) for c in schema.columns] == [("age", "int64"), ("name", "string"), ("score", "double")]
    pq.write_table(pa.table({"x": [1, 2], "y": ["p", "q"]}), tmp_path / "t.parquet")
    parquet = read_schema(tmp_path / "t.parquet", "t.parquet")
    assert (parquet.format, parquet.rows, [c.name for c in parquet.columns]) == ("parquet", 2, ["x", "y"])
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    broken = read_schema(tmp_path / "bad.parquet", "bad.parquet")
    assert broken.rows is None
    assert broken.error
    assert [is_tabular(n) for n in ("a.CSV", "b.tsv", "c.pq", "d.json", "noext")] == [True, True, True, False, False]


def test_columns_added_removed_retyped_and_row_counts(tmp_path: Path) -> None:
    a = _csv(tmp_path / "a.csv", {"id": [1, 2, 3], "old": [1, 1, 1], "kind": [1, 2, 3]})
    b = _csv(tmp_path / "b.csv", {"id": [1, 2, 3, 4], "kind": ["x", "y", "z", "w"], "new": [0, 0, 0, 0]})
    diff = compare_tables("t.csv", a, b)
    assert (diff.rows_a, diff.rows_b) == (3, 4)
    assert diff.columns_added == ("new",)
    assert diff.columns_removed == ("old",)
    assert [(c.column, c.a, c.b) for c in diff.columns_retyped] == [("kind", "int64", "string")]


def test_numeric_drift_is_flagged_by_psi_and_ks(tmp_path: Path, global_seed: int) -> None:
    rng = np.random.default_rng(global_seed)
    base = rng.normal(50, 10, 3000).round(3)
    same = rng.normal(50, 10, 3000).round(3)
    shifted = rng.normal(58, 10, 3000).round(3)
    a = _csv(tmp_path / "a.csv", {"x": list(base), "y": list(base)})
    b = _csv(tmp_path / "b.csv", {"x": list(same), "y": list(shifted)})
    diff = compare_tables("t.csv", a, b)
    drift = {item.column: item for item in diff.drift}
    assert not drift["x"].drifted
    assert drift["y"].drifted
    assert diff.drifted_columns == ["y"]
    assert drift["y"].ks == pytest.approx(stats.ks_2samp(base, shifted).statistic, abs=1e-6)
    assert drift["y"].psi > 0.2
    assert drift["y"].distribution.edges is not None
    assert sum(drift["y"].distribution.a) == pytest.approx(1.0)
    relaxed = compare_tables("t.csv", a, b, DriftThresholds(psi=100, ks=1))
    assert relaxed.drifted_columns == []


def test_categorical_drift_lists_new_and_vanished_categories(tmp_path: Path) -> None:
    a = _csv(tmp_path / "a.csv", {"city": ["paris"] * 50 + ["lyon"] * 45 + ["nice"] * 5})
    b = _csv(tmp_path / "b.csv", {"city": ["paris"] * 20 + ["lyon"] * 30 + ["brest"] * 50})
    (item,) = compare_tables("t.csv", a, b).drift
    assert item.kind == "categorical"
    assert item.new_categories == ("brest",)
    assert item.vanished_categories == ("nice",)
    assert item.drifted
    assert item.ks is None


def test_psi_is_zero_for_identical_distributions() -> None:
    assert population_stability_index([0.2, 0.3, 0.5], [2, 3, 5]) == pytest.approx(0.0)
    assert population_stability_index([0.5, 0.5], [0.9, 0.1]) > 0.2


def test_a_table_that_does_not_parse_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "a.parquet").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"cannot parse t\.parquet"):
        compare_tables("t.parquet", tmp_path / "a.parquet", tmp_path / "a.parquet")


def test_the_html_report_is_self_contained_with_a_plot_per_drifted_column(tmp_path: Path, global_seed: int) -> None:
    rng = np.random.default_rng(global_seed)
    a = _csv(tmp_path / "a.csv", {"x": list(rng.normal(0, 1, 500)), "c": ["u"] * 300 + ["v"] * 200, "z": [1] * 500})
    b = _csv(tmp_path / "b.csv", {"x": list(rng.normal(2, 1, 500)), "c": ["v"] * 400 + ["w"] * 100, "z": [1] * 500})
    table = compare_tables("t.csv", a, b)
    diff = DataDiff(a="v1", b="v2", files=ManifestDiff(changed=("t.csv",)), tables=(table,))
    page = render_html(diff)
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == len(diff.drifted) == 2
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
