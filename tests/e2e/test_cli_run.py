"""The CLI as a user types it: ``reprise init`` and ``reprise run -- CMD``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow import MlflowClient

from reprise.config import load_settings

if TYPE_CHECKING:
    from conftest import Cli

_CHILD = """
import mlflow, os
mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
with mlflow.start_run():
    mlflow.log_metrics({"rmse": 0.25})
    mlflow.log_param("alpha", "0.5")
print("child-output")
raise SystemExit(int(os.environ.get("CHILD_EXIT", "0")))
"""


def test_run_captures_a_command_and_its_own_mlflow_logging(cli: Cli, tmp_project: Path) -> None:
    (tmp_project / "train.py").write_text(_CHILD)
    result = cli("run", "--json", "-i", "train.py", "--", sys.executable, "train.py", cwd=tmp_project)
    assert result.returncode == 0, result.stderr
    assert "child-output" in result.stdout
    summary = json.loads(result.stdout.split("child-output\n", 1)[1])
    run = MlflowClient(tracking_uri=load_settings(tmp_project).tracking_uri).get_run(summary["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"rmse": 0.25}
    assert run.data.params == {"alpha": "0.5"}
    assert summary["metrics"] == {"rmse": 0.25}
    assert summary["exit_code"] == 0


def test_run_exits_with_the_child_exit_code_and_marks_the_run_failed(cli: Cli, tmp_project: Path) -> None:
    (tmp_project / "train.py").write_text(_CHILD)
    result = cli("run", "--json", "--", sys.executable, "train.py", cwd=tmp_project, env={"CHILD_EXIT": "3"})
    assert result.returncode == 3
    summary = json.loads(result.stdout.split("child-output\n", 1)[1])
    assert summary["status"] == "FAILED"


def test_commands_outside_a_project_say_reprise_init(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert "not inside a Reprise project" in result.stderr
    assert "hint: reprise init" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(cli: Cli, tmp_path: Path) -> None:
    result = cli("--debug", "run", "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_a_bad_setting_is_one_line_naming_file_and_key(cli: Cli, tmp_project: Path) -> None:
    (tmp_project / "reprise.toml").write_text("sede = 1\n")
    result = cli("run", "--", "true", cwd=tmp_project)
    assert result.returncode == 2
    assert "unknown setting 'sede'" in result.stderr
    assert "reprise.toml" in result.stderr
    assert "did you mean 'seed'?" in result.stderr


def test_init_then_init_again_says_nothing_to_do(cli: Cli, tmp_path: Path) -> None:
    first = cli("init", "proj", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "wrote reprise.toml" in json.loads(first.stdout)["actions"]
    second = cli("init", "proj", cwd=tmp_path)
    assert second.returncode == 0
    assert "nothing to do" in second.stderr


def test_usage_errors_are_one_clean_message(cli: Cli, tmp_project: Path) -> None:
    bad_value = cli("run", "--seed", "abc", "--", "true", cwd=tmp_project)
    assert bad_value.returncode == 2
    assert "--seed" in bad_value.stderr
    unknown = cli("nosuch", cwd=tmp_project)
    assert unknown.returncode == 2
    assert "No such command 'nosuch'" in unknown.stderr
    for result in (bad_value, unknown):
        assert "Traceback" not in result.stderr
