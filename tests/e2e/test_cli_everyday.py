"""The everyday CLI as a new user meets it: --version, reprise runs, --json errors, exit codes, global options
anywhere, help text, file modes, brackets and control characters in messages, reprise ui, the quickstart's hints."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import reprise
from reprise.cli._errors import EXIT_CODES
from reprise.config import load_settings

if TYPE_CHECKING:
    from conftest import Cli

_ROOT = Path(__file__).resolve().parents[2]
_GIT = ["git", "-c", "user.name=Reprise Tests", "-c", "user.email=tests@reprise.invalid"]
_WIDE = {"COLUMNS": "300", "TERMINAL_WIDTH": "300"}


@dataclass(frozen=True)
class Project:
    root: Path
    runs: tuple[str, ...]  # oldest first


def _train(settings: object, c: float) -> str:
    import mlflow
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :4]
    with reprise.start_run(params={"C": c}, settings=settings) as run:  # type: ignore[arg-type]
        model = LogisticRegression(C=c, max_iter=500).fit(X, y)
        mlflow.sklearn.log_model(
            model, name="model", pip_requirements=["scikit-learn"], serialization_format="cloudpickle"
        )
        run.log_metrics({"accuracy": float(model.score(X, y))})
    return run.run_id


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Project:
    """A project with two captured runs (each logged a model) and a run in Reprise's own pipelines experiment."""
    from reprise.tracking._client import client_for, ensure_experiment
    from reprise.tracking.fits import FITS_EXPERIMENT

    root = tmp_path_factory.mktemp("everyday") / "project"
    reprise.init_project(root)
    shutil.copyfile(mlflow_db_template, root / ".reprise" / "mlflow.db")
    subprocess.run([*_GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*_GIT, "commit", "-q", "-m", "init"], cwd=root, check=True)
    settings = load_settings(root, environ={})
    runs = (_train(settings, 0.01), _train(settings, 1.0))
    client = client_for(settings)
    client.set_terminated(client.create_run(ensure_experiment(settings, FITS_EXPERIMENT)).info.run_id)
    return Project(root, runs)


def _record_reproduction(project: Project, run_id: str, verdict: str) -> None:
    """Keep a reproduction's verdict in the metadata store, as ``reprise reproduce`` does when it finishes."""
    from reprise.store.db import open_store
    from reprise.store.reproductions import ReproductionRow, insert_reproduction

    now = datetime.now(UTC)
    row = ReproductionRow(uuid.uuid4().hex, f"run:{run_id}", verdict, [], {}, None, "tests@host", now, now)
    insert_reproduction(open_store(load_settings(project.root, environ={})), row)


def test_version(cli: Cli, tmp_path: Path) -> None:
    result = cli("--version", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f"reprise {reprise.__version__}\n")


def test_help_lists_the_exit_codes_the_readme_lists(cli: Cli, tmp_path: Path) -> None:
    result = cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    readme = (_ROOT / "README.md").read_text(encoding="utf-8")
    for code, meaning in EXIT_CODES.items():
        assert re.search(rf"^\W*{code}  {re.escape(meaning)}\s*$", result.stdout, re.MULTILINE), (code, result.stdout)
        assert f"| {code} | {meaning} |" in readme, code


@pytest.mark.parametrize("args", [(), ("serve",), ("data", "version"), ("registry", "promote")], ids=" ".join)
def test_help_shows_flags_without_a_value_type(cli: Cli, tmp_path: Path, args: tuple[str, ...]) -> None:
    result = cli(*args, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--help" in result.stdout
    assert "<bool>" not in result.stdout


def test_help_reflows_docstring_paragraphs_and_keeps_examples(cli: Cli, tmp_path: Path) -> None:
    result = cli("serve", "--help", cwd=tmp_path, env=_WIDE)
    assert result.returncode == 0, result.stderr
    lines = [line.strip(" │\u2060") for line in result.stdout.splitlines()]
    # The docstring breaks this paragraph after "validated against": on a wide terminal it is one line.
    paragraph = next(line for line in lines if line.startswith("POST /predict"))
    assert "are validated against the model signature; every answer carries" in paragraph
    assert paragraph.endswith("/metrics (Prometheus) and /docs. Example:")
    example = next(line for line in result.stdout.splitlines() if "reprise serve obesity_classifier@champion" in line)
    assert re.match(r"^\W*\s{4}reprise serve", example), example  # the example block keeps its indent
    assert lines[lines.index(paragraph) + 1] == ""  # and the blank line before it


def test_errors_are_json_on_stdout_with_json_and_one_line_on_stderr(cli: Cli, tmp_path: Path) -> None:
    outside = cli("data", "list", "--json", cwd=tmp_path)
    assert outside.returncode == 2
    assert json.loads(outside.stdout) == {
        "error": {
            "code": "not-a-project",
            "exit_code": 2,
            "hint": "reprise init",
            "message": f"{tmp_path.resolve()} is not inside a Reprise project (no reprise.toml found)",
        }
    }
    assert outside.stderr.splitlines()[0].startswith("error: ")
    usage = cli("data", "lst", "--json", cwd=tmp_path)
    assert usage.returncode == 2
    assert json.loads(usage.stdout)["error"]["code"] == "usage-error"
    assert "No such command 'lst'" in usage.stderr
    plain = cli("data", "list", cwd=tmp_path)
    assert (plain.returncode, plain.stdout) == (2, "")


def test_global_options_work_before_or_after_the_command(cli: Cli, tmp_path: Path, project: Project) -> None:
    where = str(project.root)
    after = cli("runs", "-n", "1", "-C", where, "--json", cwd=tmp_path)
    before = cli("--json", "-C", where, "runs", "-n", "1", cwd=tmp_path)
    assert after.returncode == before.returncode == 0, after.stderr + before.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert [run["run_id"] for run in json.loads(after.stdout)] == [project.runs[-1]]
    debug = cli("runs", "-e", "nope", "--debug", cwd=project.root)
    assert debug.returncode == 3
    assert "Traceback" in debug.stderr


def test_what_follows_the_double_dash_is_the_commands_own(cli: Cli, tmp_project: Path) -> None:
    code = "import sys; print(sys.argv[1:])"
    child = cli("run", "--json", "--", sys.executable, "-c", code, "--json", "-C", "x", "--debug", cwd=tmp_project)
    assert child.returncode == 0, child.stderr
    assert "['--json', '-C', 'x', '--debug']" in child.stdout + child.stderr


def test_runs_lists_newest_first_with_the_last_verdict_and_hides_reprise_experiments(
    cli: Cli, project: Project
) -> None:
    _record_reproduction(project, project.runs[0], "different")
    _record_reproduction(project, project.runs[0], "identical")
    result = cli("runs", "--json", cwd=project.root)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [run["run_id"] for run in listed] == list(reversed(project.runs))  # the pipelines experiment is hidden
    assert [run["verdict"] for run in listed] == [None, "identical"]
    assert {run["experiment"] for run in listed} == {"project"}
    assert all(run["status"] == "FINISHED" and 0 < run["metrics"]["accuracy"] <= 1 for run in listed)
    assert len({run["name"] for run in listed}) == 2  # every start_run run has a name of its own
    missing = cli("runs", "--experiment", "nope", cwd=project.root)
    assert missing.returncode == 3
    assert "no experiment 'nope'" in missing.stderr


def test_runs_table_fits_80_columns_and_keeps_names_whole(cli: Cli, project: Project) -> None:
    result = cli("runs", cwd=project.root, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert max(len(row) for row in rows) <= 80
    names = {run["name"] for run in json.loads(cli("runs", "--json", cwd=project.root).stdout)}
    for run_id, name in zip(reversed(project.runs), sorted(names, key=result.stdout.index), strict=True):
        assert f"{run_id[:9]}…{run_id[-4:]} {name} " in result.stdout
    assert "reprise runs --json shows them whole" in result.stderr
    wide = cli("runs", cwd=project.root, env=_WIDE)
    assert all(run_id in wide.stdout for run_id in project.runs)


def test_registry_register_keeps_brackets_and_exits_1_when_a_gate_fails(cli: Cli, project: Project) -> None:
    ungated = cli("registry", "register", project.runs[0], "everyday", cwd=project.root)
    assert ungated.returncode == 0, ungated.stderr
    assert (
        "no quality gates configured ([gates] in reprise.toml or gates: in params.yaml): not staged" in ungated.stderr
    )
    config = project.root / "reprise.toml"
    original = config.read_text()
    config.write_text(original + '\n[gates]\naccuracy = ">= 1.01"\n')
    try:
        failed = cli("registry", "register", project.runs[1], "everyday", "--json", cwd=project.root)
    finally:
        config.write_text(original)
    assert failed.returncode == 1, failed.stderr
    registration = json.loads(failed.stdout)
    assert (registration["version"], registration["tags"]["validation_status"], registration["staging"]) == (
        2,
        "failed",
        None,
    )
    assert "gates FAILED: accuracy >= 1.01" in registration["summary"]


def test_an_unknown_section_is_a_config_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "reprise.toml").write_text('seed = 1\n\n[gatez]\naccuracy = ">= 0.9"\n')
    result = cli("runs", "--json", cwd=tmp_path)
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == "config-error"
    assert result.stderr.splitlines() == [
        f"error: unknown section [gatez] in {tmp_path.resolve() / 'reprise.toml'} (reprise.toml)",
        "  hint: did you mean 'gates'?",
    ]


def test_init_writes_shared_files_with_the_users_file_mode(cli: Cli, tmp_path: Path) -> None:
    previous = os.umask(0o002)
    try:
        result = cli("init", str(tmp_path / "p"), cwd=tmp_path)
    finally:
        os.umask(previous)
    assert result.returncode == 0, result.stderr
    for name in ("reprise.toml", ".gitignore"):
        assert stat.S_IMODE((tmp_path / "p" / name).stat().st_mode) == 0o664, name


def test_data_results_on_stdout_and_no_raw_bytes_from_a_bad_file(cli: Cli, tmp_project: Path) -> None:
    (tmp_project / "t.csv").write_text("a,b\n1,2\n")
    made = cli("data", "version", "t.csv", "--name", "t1", cwd=tmp_project)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("versioned t.csv as t1 (1 files, 8 B, 1 rows x 2 columns)\n")
    (tmp_project / "t.csv").write_bytes(b"a,b\n1,\x1b[31mred\x00\n")
    changed = cli("data", "diff", "t1", cwd=tmp_project)
    assert changed.returncode == 0, changed.stderr
    assert "+ row 1: a=1, b=\\x1b[31mred\\x00" in changed.stdout
    (tmp_project / "bad.csv").write_bytes(b"x,y\n\x1b[2J\x07\x00zz\n1\n")
    broken = cli("data", "diff", "t.csv", "bad.csv", cwd=tmp_project)
    assert broken.returncode == 1
    assert broken.stderr.startswith("error: cannot read bad.csv as csv: ")
    for output in (changed.stdout, changed.stderr, broken.stdout, broken.stderr):
        assert not {"\x1b", "\x00", "\x07"} & set(output)


def test_quickstart_next_steps_work_as_written_after_uv_run(cli: Cli, tmp_path: Path) -> None:
    under_uv = cli("quickstart", str(tmp_path / "q"), "--no-run", cwd=tmp_path, env={"UV_RUN_RECURSION_DEPTH": "1"})
    assert under_uv.returncode == 0, under_uv.stderr
    venv = Path(sys.prefix)
    dvc = "uv run dvc" if tmp_path.resolve().is_relative_to(venv.parent) else f"uv run --project {venv.parent} dvc"
    assert f"run it with: cd {tmp_path.resolve() / 'q'} && {dvc} repro" in under_uv.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_ui_prints_its_url_as_json_and_starts_quietly(project: Project) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "reprise", "ui", "--port", str(port), "--json"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        opening = "".join(iter(process.stdout.readline, "}\n")) + "}\n"
        assert json.loads(opening)["url"] == f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the UI did not answer in 180 s"
                time.sleep(0.5)
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=60)
    assert "Warning" not in errors, errors
    assert "GET / HTTP" not in errors  # no access log
