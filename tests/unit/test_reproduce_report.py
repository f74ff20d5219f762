"""Reports: JSON that round-trips, and HTML pages that need no network and put the verdict first."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from reprise.reproduce._data import DataRestore
from reprise.reproduce._venv import EnvironmentBuild
from reprise.reproduce.audit import AuditReport, MetricAudit, OutputAudit
from reprise.reproduce.compare import RunSide, Tolerance, compare_metrics, compare_runs
from reprise.reproduce.explain import explain
from reprise.reproduce.replay import Reproduction
from reprise.reproduce.report import render_html, to_json, write_report
from reprise.reproduce.validate import ValidationReport, load_reference

from .test_explain import _record


def _reproduction(shift: float) -> Reproduction:
    base = np.linspace(0.0, 10.0, 60)
    comparison = compare_runs(
        RunSide(metrics={"rmse": 1.0, "r2": 0.5}, predictions=base),
        RunSide(metrics={"rmse": 1.0 + shift, "r2": 0.5}, predictions=base + shift),
        Tolerance(atol=1e-6),
    )
    explanation = explain(_record(), _record(), comparison)
    return Reproduction(
        original_run_id="a" * 32,
        reproduction_run_id="b" * 32,
        mode="isolated",
        verdict=comparison.verdict,
        nondeterministic=explanation.nondeterministic,
        comparison=comparison,
        explanation=explanation,
        environment=EnvironmentBuild(
            mode="isolated", python="/v/bin/python", python_version="3.11.7", python_requested="3.11.7"
        ),
        data=DataRestore(files=1, from_cache=1, verified=True),
        commit="c" * 40,
    )


def _assert_self_contained(page: str) -> None:
    assert page.startswith("<!doctype html>")
    assert "Content-Security-Policy" in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "url(" not in page
    assert "@import" not in page


def test_identical_reproduction_page() -> None:
    page = render_html(_reproduction(0.0))
    _assert_self_contained(page)
    header = page.index('id="verdict"')
    assert page.index("IDENTICAL", header) < page.index('id="metrics"')
    assert page.count("<circle") == 2 * 60  # every prediction in the scatter plot and in the residuals
    assert "all bitwise identical" in page and "compared: 2 metrics, 1 prediction set" in page


def test_different_reproduction_page_lists_causes_and_deltas() -> None:
    result = _reproduction(0.5)
    page = render_html(result)
    _assert_self_contained(page)
    assert "DIFFERENT · NONDETERMINISTIC" in page
    assert "nondeterministic: same recorded inputs, different results" in page
    assert "0.5" in page  # the delta
    assert result.headline.startswith("different (nondeterministic)")


def test_json_report_round_trips(tmp_path: Path) -> None:
    result = _reproduction(0.5)
    written = write_report(result, json_path=tmp_path / "r.json", html_path=tmp_path / "r.html")
    assert written == [tmp_path / "r.json", tmp_path / "r.html"]
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["kind"] == "reproduction"
    data.pop("kind")
    assert Reproduction.model_validate(data) == result
    assert to_json(result) == (tmp_path / "r.json").read_text()


def test_validation_and_audit_pages() -> None:
    report = ValidationReport(
        run_id="a" * 32,
        reference="reference.json",
        tolerance=Tolerance(),
        metrics=tuple(compare_metrics({"accuracy": 0.9}, {"accuracy": 0.8}, Tolerance())),
        passed=False,
        failures=("accuracy: 0.9 -> 0.8 (different)",),
    )
    page = render_html(report)
    _assert_self_contained(page)
    assert "FAILED" in page and "Outside tolerance" in page
    audit = AuditReport(
        target="train",
        mode="stages",
        runs=2,
        outputs=(OutputAudit(path="out/p.npy", stage="train", sha256=("a" * 64, "b" * 64), consistent=False),),
        metrics=(MetricAudit(name="train/rmse", stage="train", values=(1.0, 1.0), consistent=True, max_abs_delta=0.0),),
        hints=("src/train.py:3: parallel work (n_jobs > 1)",),
        clean=False,
    )
    page = render_html(audit)
    _assert_self_contained(page)
    assert "NONDETERMINISTIC" in page and "out/p.npy" in page and "src/train.py:3" in page


def test_anything_else_has_no_report() -> None:
    with pytest.raises(TypeError):
        render_html(DataRestore())


def test_reference_files_in_both_forms(tmp_path: Path) -> None:
    plain = tmp_path / "plain.json"
    plain.write_text('{"accuracy": 0.93, "f1_macro": 0.9}')
    assert load_reference(plain).metrics == {"accuracy": 0.93, "f1_macro": 0.9}
    full = tmp_path / "full.json"
    full.write_text(json.dumps({"reference_version": 1, "run_id": "a" * 32, "metrics": {"rmse": 1.5}}))
    assert load_reference(full).run_id == "a" * 32


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"accuracy": "high"}', "'accuracy' is not a number"),
        ("{}", "it is empty"),
        ('{"reference_version": 1, "metrics": {"a": "x"}}', "metrics.a"),
        ('{"reference_version": 9}', "has version 9"),
    ],
    ids=["missing", "not-json", "not-object", "not-number", "empty", "bad-field", "future"],
)
def test_bad_reference_files_are_data_errors_naming_the_problem(
    tmp_path: Path, content: str | None, message: str
) -> None:
    from reprise.errors import DataError

    path = tmp_path / "reference.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=re.escape(message)):
        load_reference(path)
