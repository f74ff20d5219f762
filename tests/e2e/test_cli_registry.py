"""``reprise registry`` as a user types it: every ``--json`` output parses, every error is one line, exit non-zero.

Each ``reprise`` process pays ~5 s of MLflow start-up, so most commands run through the console script's own entry
point (``reprise.cli.main.main``) in this process; a few run as real subprocesses to check streams and exit codes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pytest

import reprise
from reprise.cli.main import main
from reprise.config import load_settings

if TYPE_CHECKING:
    from conftest import Cli

# Not ours to fix: MLflow 3.17 compares an input example's columns with a range, which pandas 3.1 deprecates, and
# its first `import mlflow.pyfunc` warns about its own type hints (the message starts with ANSI colour codes).

_GIT = ["git", "-c", "user.name=Reprise Tests", "-c", "user.email=tests@reprise.invalid"]
MODEL = "obesity_classifier"


@dataclass(frozen=True)
class Project:
    root: Path
    runs: tuple[str, ...]
    accuracies: tuple[float, ...]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)


Reprise = Callable[..., Result]


def _train(settings: Any, c: float) -> tuple[str, float]:
    from mlflow.models import infer_signature
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :5]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    with reprise.start_run("train", params={"C": c}, settings=settings) as run:
        model = LogisticRegression(C=c, max_iter=2000).fit(X_train, y_train)
        accuracy = float(accuracy_score(y_test, model.predict(X_test)))
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(X_train, model.predict(X_train)),
            input_example=X_train.head(2),
            pip_requirements=["scikit-learn"],
            serialization_format="cloudpickle",
        )
        run.log_metrics({"accuracy": accuracy, "f1_macro": accuracy - 0.01})
    return run.run_id, accuracy


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Project:
    root = tmp_path_factory.mktemp("cli-registry") / "project"
    reprise.init_project(root)
    shutil.copyfile(mlflow_db_template, root / ".reprise" / "mlflow.db")
    subprocess.run([*_GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*_GIT, "commit", "-q", "-m", "init"], cwd=root, check=True)
    settings = load_settings(root, environ={})
    trained = [_train(settings, c) for c in (0.0005, 1.0)]
    assert trained[0][1] < trained[1][1], trained
    threshold = (trained[0][1] + trained[1][1]) / 2
    (root / "params.yaml").write_text(f"gates:\n  accuracy: '>= {threshold}'\n")
    return Project(root, tuple(run for run, _ in trained), tuple(accuracy for _, accuracy in trained))


@pytest.fixture
def reprise_cli(project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Reprise:
    """``reprise_cli(*args)`` runs the console script's entry point in this process, in the project."""
    monkeypatch.chdir(project.root)

    def run(*args: str) -> Result:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            main(list(args))
        captured = capsys.readouterr()
        return Result(int(info.value.code or 0), captured.out, captured.err)

    return run


def test_every_registry_command_speaks_json(project: Project, reprise_cli: Reprise, tmp_path: Path) -> None:
    weak, strong = project.runs
    registered = reprise_cli("registry", "register", weak, MODEL, "--json")
    assert registered.code == 1, registered.err  # registered, but a gate failed: the check-failed exit code
    failed = json.loads(registered.out)
    assert (failed["version"], failed["tags"]["validation_status"], failed["staging"]) == (1, "failed", None)
    assert "gates FAILED" in failed["summary"]
    passed = reprise_cli("registry", "register", strong, MODEL, "--model-type", "LogisticRegression", "--json").json()
    assert passed["staging"] == {
        "model": MODEL,
        "alias": "staging",
        "from_version": None,
        "to_version": 2,
        "forced": False,
    }

    [summary] = reprise_cli("registry", "list", "--json").json()
    assert (summary["name"], summary["versions"], summary["aliases"]) == (MODEL, 2, {"staging": 2})

    versions = reprise_cli("registry", "versions", MODEL, "--json").json()
    assert [(v["version"], v["stage"], v["validation_status"]) for v in versions] == [
        (1, "None", "failed"),
        (2, "Staging", "passed"),
    ]
    assert versions[1]["metrics"]["accuracy"] == project.accuracies[1]

    promoted = reprise_cli("registry", "promote", MODEL, "2", "Production", "--json").json()
    assert [(m["alias"], m["from_version"], m["to_version"]) for m in promoted["moves"]] == [("production", None, 2)]
    alias = reprise_cli("registry", "alias", MODEL, "champion", "v2", "--json").json()
    assert (alias["alias"], alias["to_version"]) == ("champion", 2)

    comparison = reprise_cli("registry", "compare", MODEL, "1", "champion", "--json").json()
    accuracy = next(row for row in comparison["metrics"] if row["name"] == "accuracy")
    assert accuracy["delta"] == pytest.approx(project.accuracies[1] - project.accuracies[0])
    assert comparison["params"] == [{"name": "C", "a": "0.0005", "b": "1.0"}]
    assert comparison["signature"]["same"] is True
    assert comparison["a"]["git_commit"] == comparison["b"]["git_commit"]

    best = reprise_cli("registry", "best", MODEL, "--metric", "accuracy", "--json").json()
    assert (best["version"], best["maximize"], best["direction_from"]) == (2, True, "gate")
    worst = reprise_cli("registry", "best", MODEL, "--metric", "accuracy", "--min", "--json").json()
    assert worst["version"] == 1

    events = reprise_cli("registry", "history", MODEL, "--json").json()
    assert [event["kind"] for event in events] == [
        "registered",
        "gate",
        "registered",
        "gate",
        "alias_set",
        "alias_set",
        "alias_set",
    ]
    holders = reprise_cli("registry", "history", MODEL, "--alias", "production", "--at", "2999-01-01", "--json")
    [holding] = holders.json()
    assert (holding["alias"], holding["version"]) == ("production", 2)
    everything = reprise_cli("registry", "history", MODEL, "--at", "2999-01-01T00:00", "--json").json()
    assert [h["alias"] for h in everything] == ["champion", "production", "staging"]

    exported = reprise_cli("registry", "export", f"{MODEL}@production", "--to", str(tmp_path / "deploy"), "--json")
    assert exported.json()["changed"] is True
    assert (tmp_path / "deploy" / "v002" / "MLmodel").is_file()
    again = reprise_cli("registry", "export", f"{MODEL}@production", "--to", str(tmp_path / "deploy"), "--json")
    assert again.json()["changed"] is False


def test_text_output_is_tables_on_stdout_and_messages_on_stderr(project: Project, reprise_cli: Reprise) -> None:
    reprise_cli("registry", "register", project.runs[1], "texts")
    reprise_cli("registry", "promote", "texts", "1", "Production")
    reprise.register_model(project.runs[1], "texts", gates=[], settings=load_settings(project.root))
    moved = reprise_cli("registry", "promote", "texts", "2", "production")
    assert moved.code == 0
    assert moved.out == ""
    assert "production: v1 → v2 (v1 lost the alias; it is not archived)" in moved.err
    table = reprise_cli("registry", "versions", "texts", "--metric", "accuracy")
    assert table.code == 0
    for word in ("Version", "Stage", "accuracy", "Aliases", "Production", "Staging"):
        assert word in table.out, word
    assert "1 passed" not in table.err


@pytest.mark.parametrize(
    ("args", "code", "first_line"),
    [
        (("registry", "versions", "no_such_model"), 3, "error: no registered model 'no_such_model'; known models: "),
        (("registry", "promote", "errs", "9", "Production"), 3, "error: model 'errs' has no version 9; versions: 1"),
        (("registry", "export", "errs@nope", "--to", "out"), 3, "error: model 'errs' has no alias 'nope'; aliases: "),
        (("registry", "compare", "errs", "1", "champion"), 3, "error: model 'errs' has no alias 'champion'"),
        (("registry", "alias", "errs", "latest", "1"), 1, "error: cannot set alias 'latest' of errs to v1:"),
        (("registry", "promote", "errs", "1", "Production"), 1, "error: errs v1 failed its quality gates"),
        (("registry", "alias", "errs", "v7", "1"), 1, "error: cannot set alias 'v7' of errs to v1:"),
        (("registry", "export", "errs@", "--to", "out"), 1, "error: cannot read model reference 'errs@'"),
        (("registry", "history", "errs", "--at", "yesterday"), 2, "error: 'yesterday' is not an ISO time"),
        (("registry", "register", "0000", "errs"), 3, "error: no run 0000 in the tracking store"),
    ],
    ids=[
        "model",
        "version",
        "alias",
        "compare-alias",
        "reserved-alias",
        "gates",
        "bad-alias",
        "bad-ref",
        "bad-time",
        "bad-run",
    ],
)
def test_every_error_is_one_line_with_a_hint_and_a_non_zero_exit(
    project: Project, reprise_cli: Reprise, args: tuple[str, ...], code: int, first_line: str
) -> None:
    if reprise_cli("registry", "versions", "errs").code != 0:
        reprise_cli("registry", "register", project.runs[0], "errs")
    result = reprise_cli(*args)
    assert result.code == code, result.err
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[0].startswith(first_line), result.err
    assert all(line.startswith("  hint: ") for line in lines[1:]), result.err
    assert len(lines) <= 2
    assert "Traceback" not in result.err


def test_a_malformed_gate_is_a_config_error_naming_file_and_gate(project: Project, reprise_cli: Reprise) -> None:
    params = project.root / "params.yaml"
    original = params.read_text()
    params.write_text("gates:\n  - accuracy >> 0.8\n")
    try:
        result = reprise_cli("registry", "register", project.runs[0], "syntax")
    finally:
        params.write_text(original)
    assert result.code == 2
    assert result.err.splitlines()[0] == "error: params.yaml gates[0]: cannot parse gate 'accuracy >> 0.8'"
    assert 'hint: write a gate as "accuracy >= 0.85"' in result.err


def test_the_real_command_line(project: Project, cli: Cli) -> None:
    reprise.register_model(project.runs[1], "subprocess", gates=[], settings=load_settings(project.root))
    listed = cli("registry", "versions", "subprocess", "--json", cwd=project.root)
    assert listed.returncode == 0, listed.stderr
    assert [version["version"] for version in json.loads(listed.stdout)] == [1]
    missing = cli("registry", "versions", "nope", cwd=project.root)
    assert missing.returncode == 3
    assert missing.stdout == ""
    assert missing.stderr.splitlines()[0].startswith("error: no registered model 'nope'; known models: ")
    assert "Traceback" not in missing.stderr


def test_registry_help_loads_no_heavy_library() -> None:
    probe = (
        "import sys\nfrom reprise.cli.main import main\n"
        "for args in (['registry', '--help'], ['registry', 'promote', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print('HEAVY=' + ','.join(sorted(m for m in ('mlflow', 'pandas', 'sklearn', 'numpy', 'sqlalchemy', 'dvc')"
        " if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "HEAVY="
    assert "promote" in out
    assert "--force" in out
