"""The explanation: causes found by diffing two RunRecords, ordered by likelihood, with their evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from reprise.capture.environment import CpuInfo, Environment, Package, PlatformInfo, PythonInfo
from reprise.capture.git import GitState
from reprise.capture.record import CodeState, Randomness, RunRecord
from reprise.data.manifest import FileEntry, Manifest, manifest_digest
from reprise.reproduce.compare import RunSide, Tolerance, Verdict, compare_runs
from reprise.reproduce.explain import changed_patch_files, explain, is_incidental

PACKAGES = (
    Package(name="numpy", version="2.4.6"),
    Package(name="scikit-learn", version="1.9.1"),
    Package(name="six", version="1.17.0"),
    Package(name="myproject", version="0.1.0", source="file:///home/a/project", editable=True),
)


def _environment(**changes: Any) -> Environment:
    base = Environment(
        python=PythonInfo(version="3.11.7", implementation="CPython", executable="/usr/bin/python3"),
        platform=PlatformInfo(system="Linux", release="6.1", machine="x86_64"),
        cpu=CpuInfo(model="EPYC", logical_count=2, physical_count=2),
        env_vars={"PYTHONHASHSEED": "42", "MLFLOW_RUN_ID": "a" * 32},
        packages=PACKAGES,
        captured_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return base.model_copy(update=changes)


def _inputs(content: str) -> Manifest:
    entries = (FileEntry(path="data/d.csv", size=4, hashes={"sha256": content}),)
    return Manifest(paths=("data/d.csv",), files=entries, digest=manifest_digest(entries))


def _record(**changes: Any) -> RunRecord:
    record = RunRecord(
        run_id="r" * 32,
        experiment_id="1",
        tracking_uri="sqlite:///x",
        status="FINISHED",
        code=CodeState(git=GitState(available=True, commit="c" * 40), command=["python", "train.py"]),
        inputs=_inputs("1" * 64),
        environment=_environment(),
        randomness=Randomness(seed=42, pythonhashseed="42"),
        params={"alpha": "0.5"},
        started_at="2026-01-01T00:00:00+00:00",
    )
    return record.model_copy(update=changes)


def _comparison(original: float, reproduced: float, predictions: tuple[Any, Any] = (None, None)) -> Any:
    return compare_runs(
        RunSide(metrics={"rmse": original}, predictions=predictions[0]),
        RunSide(metrics={"rmse": reproduced}, predictions=predictions[1]),
        Tolerance(atol=1e-9),
    )


def test_identical_with_identical_records_has_no_cause() -> None:
    explanation = explain(_record(), _record(), _comparison(1.0, 1.0))
    assert explanation.causes == ()
    assert not explanation.nondeterministic
    assert explanation.summary == "identical: 1 metric, all bitwise identical"


def test_identical_results_have_no_cause_even_when_inputs_differ() -> None:
    reproduced = _record(params={"alpha": "0.7"}, randomness=Randomness(seed=7, pythonhashseed="7"))
    explanation = explain(_record(), reproduced, _comparison(1.0, 1.0), what_if=["six==1.17.0"])
    assert explanation.causes == ()
    assert explanation.summary == "identical with six==1.17.0: 1 metric, all bitwise identical"


def test_nothing_compared_is_unverified_with_the_fix() -> None:
    comparison = compare_runs(RunSide(metrics={}), RunSide(metrics={}))
    assert comparison.verdict == "unverified"
    explanation = explain(_record(), _record(), comparison)
    assert explanation.causes == ()
    assert "nothing to compare" in explanation.summary and "log_predictions" in explanation.summary


def test_a_changed_package_is_named_first() -> None:
    packages = tuple(Package(name="six", version="1.16.0") if p.name == "six" else p for p in PACKAGES)
    original = _record(environment=_environment(packages=packages))
    explanation = explain(original, _record(), _comparison(1.0, 1.5))
    first = explanation.first
    assert first is not None
    assert first.kind == "packages"
    assert first.title == "package six 1.16.0 -> 1.17.0"
    assert "original: six==1.16.0" in first.evidence
    assert not explanation.nondeterministic
    assert "most likely package six" in explanation.summary


def test_numeric_packages_rank_above_others_and_code_above_all() -> None:
    packages = tuple(Package(name=p.name, version="0.0.1") if p.name in ("six", "numpy") else p for p in PACKAGES)
    original = _record(
        environment=_environment(packages=packages),
        code=CodeState(git=GitState(available=True, commit="d" * 40), command=["python", "train.py"]),
    )
    explanation = explain(original, _record(), _comparison(1.0, 2.0), code_changes=["train.py"])
    kinds = [(c.kind, c.title.split()[1] if c.kind == "packages" else "") for c in explanation.causes]
    assert kinds[0] == ("code", "")
    assert kinds[1] == ("packages", "numpy")
    assert kinds[2] == ("packages", "six")
    assert "changed: train.py" in explanation.causes[0].evidence


def test_the_project_installed_from_another_folder_is_not_a_cause() -> None:
    moved = tuple(
        p.model_copy(update={"source": "file:///tmp/worktree"}) if p.name == "myproject" else p for p in PACKAGES
    )
    reproduced = _record(environment=_environment(packages=moved))
    assert explain(_record(), reproduced, _comparison(1.0, 1.0)).causes == ()


def test_logging_variables_are_incidental_but_thread_counts_are_causes() -> None:
    env = _environment(env_vars={"PYTHONHASHSEED": "42", "MLFLOW_RUN_ID": "b" * 32, "OMP_NUM_THREADS": "8"})
    explanation = explain(_record(), _record(environment=env), _comparison(1.0, 1.0 + 1e-12))
    assert [c.kind for c in explanation.causes] == ["threads"]  # no suspect in the code: no nondeterminism cause
    assert "env_vars.OMP_NUM_THREADS: None -> 8" in explanation.causes[0].evidence
    assert is_incidental("env_vars.MLFLOW_RUN_ID")
    assert not is_incidental("env_vars.OMP_NUM_THREADS")


def test_no_input_difference_means_nondeterministic() -> None:
    explanation = explain(_record(), _record(), _comparison(1.0, 1.1))
    assert explanation.nondeterministic
    assert explanation.first is not None and explanation.first.kind == "nondeterminism"
    assert "no input differs" in explanation.summary


def test_round_off_differences_name_parallel_summation_and_the_suspect_line() -> None:
    # The suspects come from reprise.reproduce.suspects.scan_sources (tests/unit/test_suspects.py).
    hints = [
        "src/train.py:2: parallel work (n_jobs > 1): sums in thread completion order: model = RF(n_jobs=4)",
        "src/train.py:4: a NumPy Generator created without a seed: rng = np.random.default_rng()",
    ]
    base = np.linspace(1, 100, 100)
    comparison = _comparison(1.0, 1.0, (base, base + np.where(np.arange(100) % 3 == 0, 1e-13, 0.0)))
    explanation = explain(_record(), _record(), comparison, source_hints=hints)
    first = explanation.first
    assert first is not None
    assert "summation order" in first.title and "n_jobs" in first.title
    assert any("RandomForest" in line for line in first.evidence)
    assert any(line.startswith("suspect: src/train.py:2") for line in first.evidence)


def test_data_params_seed_and_command_differences() -> None:
    reproduced = _record(
        inputs=_inputs("2" * 64),
        params={"alpha": "0.7"},
        randomness=Randomness(seed=7, pythonhashseed="7"),
        code=CodeState(git=GitState(available=True, commit="c" * 40), command=["python", "train.py", "--fast"]),
    )
    explanation = explain(_record(), reproduced, _comparison(1.0, 2.0))
    by_kind = {cause.kind: cause for cause in explanation.causes}
    assert set(by_kind) == {"data", "params", "seed", "command"}
    assert by_kind["data"].evidence == ("changed: data/d.csv",)
    assert by_kind["params"].evidence == ("alpha: 0.5 -> 0.7",)
    assert by_kind["seed"].title == "seed 42 -> 7"
    assert not explanation.nondeterministic


def test_nondeterminism_beside_an_input_cause_shows_only_the_code_suspects() -> None:
    reproduced = _record(params={"alpha": "0.7"})
    hints = ["train.py:3: a NumPy Generator created without a seed: rng = np.random.default_rng()"]
    explanation = explain(_record(), reproduced, _comparison(1.0, 2.0), source_hints=hints)
    assert [c.kind for c in explanation.causes] == ["params", "nondeterminism"]
    last = explanation.causes[-1]
    assert last.evidence[0].startswith("less likely than params: alpha")
    assert last.evidence[1:] == (f"suspect: {hints[0]}",)  # the metric difference is not repeated under it


def test_python_difference_carries_the_build_note() -> None:
    env = _environment(python=PythonInfo(version="3.11.2", implementation="CPython", executable="/x"))
    note = "Python 3.11.7 is not installed here (no downloads): the venv uses Python 3.11.2"
    explanation = explain(_record(), _record(environment=env), _comparison(1.0, 1.5), notes=[note])
    assert explanation.causes[0].kind == "python"
    assert note in explanation.causes[0].evidence


def test_a_failed_rerun_shows_the_last_lines() -> None:
    comparison = compare_runs(RunSide(metrics={}), RunSide(metrics={}, exit_code=2))
    explanation = explain(_record(), _record(), comparison, log_tail=["Traceback ...", "KeyError: 'x'"])
    assert comparison.verdict is Verdict.FAILED
    assert explanation.first is not None and explanation.first.kind == "failure"
    assert explanation.first.evidence[-1] == "KeyError: 'x'"


def test_patch_differences_are_per_file() -> None:
    a = b"diff --git a/x.py b/x.py\n+one\ndiff --git a/y.py b/y.py\n+two\n"
    b = b"diff --git a/x.py b/x.py\n+one\ndiff --git a/y.py b/y.py\n+three\ndiff --git a/z.py b/z.py\n+z\n"
    assert changed_patch_files(a, b) == ["y.py", "z.py"]
    assert changed_patch_files(None, a) == ["x.py", "y.py"]
    assert changed_patch_files(a, a) == []
