"""The CLI as a user types it: ``reprise init`` and ``reprise run -- CMD``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from reprise.config import load_settings

_CHILD = """
import mlflow, os
mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
with mlflow.start_run():
    mlflow.log_metrics({"rmse": 0.25})
    mlflow.log_param("alpha", "0.5")
print("child-output")
raise SystemExit(int(os.environ.get("CHILD_EXIT", "0")))
"""


def reprise_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "reprise", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_run_captures_a_command_and_its_own_mlflow_logging(tmp_project: Path) -> None:
    (tmp_project / "train.py").write_text(_CHILD)
    result = reprise_cli("run", "--json", "-i", "train.py", "--", sys.executable, "train.py", cwd=tmp_project)
    assert result.returncode == 0, result.stderr
    assert "child-output" in result.stdout
    summary = json.loads(result.stdout.split("child-output\n", 1)[1])
    run = MlflowClient(tracking_uri=load_settings(tmp_project).tracking_uri).get_run(summary["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"rmse": 0.25}
    assert run.data.params == {"alpha": "0.5"}
    assert summary["metrics"] == {"rmse": 0.25}
    assert summary["exit_code"] == 0


def test_run_exits_with_the_child_exit_code_and_marks_the_run_failed(tmp_project: Path) -> None:
    (tmp_project / "train.py").write_text(_CHILD)
    result = reprise_cli("run", "--json", "--", sys.executable, "train.py", cwd=tmp_project, env={"CHILD_EXIT": "3"})
    assert result.returncode == 3
    summary = json.loads(result.stdout.split("child-output\n", 1)[1])
    assert summary["status"] == "FAILED"


def test_commands_outside_a_project_say_reprise_init(tmp_path: Path) -> None:
    result = reprise_cli("run", "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert "not inside a Reprise project" in result.stderr
    assert "hint: reprise init" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = reprise_cli("--debug", "run", "--", "true", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_a_bad_setting_is_one_line_naming_file_and_key(tmp_project: Path) -> None:
    (tmp_project / "reprise.toml").write_text("sede = 1\n")
    result = reprise_cli("run", "--", "true", cwd=tmp_project)
    assert result.returncode == 2
    assert "unknown setting 'sede'" in result.stderr
    assert "reprise.toml" in result.stderr
    assert "did you mean 'seed'?" in result.stderr


def test_init_then_init_again_says_nothing_to_do(tmp_path: Path) -> None:
    first = reprise_cli("init", "proj", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "wrote reprise.toml" in json.loads(first.stdout)["actions"]
    second = reprise_cli("init", "proj", cwd=tmp_path)
    assert second.returncode == 0
    assert "nothing to do" in second.stderr
