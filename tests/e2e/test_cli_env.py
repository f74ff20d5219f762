"""``reprise env capture`` and ``reprise env diff`` as a user types them."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow import MlflowClient

import reprise
from reprise.config import load_settings

if TYPE_CHECKING:
    from conftest import Cli


def test_capture_writes_pins_and_system_info(cli: Cli, tmp_project: Path) -> None:
    result = cli("env", "capture", "--output-dir", "env-a", "--json", cwd=tmp_project)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert sorted(Path(f).name for f in summary["files"]) == ["requirements.txt", "system_info.json"]
    pins = (tmp_project / "env-a" / "requirements.txt").read_text()
    assert f"mlflow=={version('mlflow')}" in pins.splitlines()
    info = json.loads((tmp_project / "env-a" / "system_info.json").read_text())
    assert info["python"]["implementation"] == "CPython"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", summary["env_digest"])


def test_capture_into_an_mlflow_run(cli: Cli, tmp_project: Path) -> None:
    with reprise.start_run() as run:
        pass
    result = cli("env", "capture", "-o", "env", "--mlflow-run", run.run_id, cwd=tmp_project)
    assert result.returncode == 0, result.stderr
    client = MlflowClient(tracking_uri=load_settings(tmp_project).tracking_uri)
    names = {a.path for a in client.list_artifacts(run.run_id, "reprise")}
    assert "reprise/requirements.txt" in names


def test_capture_into_an_unknown_run_is_a_not_found_error(cli: Cli, tmp_project: Path) -> None:
    result = cli("env", "capture", "--mlflow-run", "0" * 32, cwd=tmp_project)
    assert result.returncode == 3
    assert f"no run {'0' * 32}" in result.stderr
    assert "Traceback" not in result.stderr


def test_diff_between_a_folder_and_a_run_shows_the_changed_package(cli: Cli, tmp_project: Path) -> None:
    with reprise.start_run() as run:
        pass
    assert cli("env", "capture", "-o", "now", cwd=tmp_project).returncode == 0
    pins = tmp_project / "now" / "requirements.txt"
    pins.write_text(pins.read_text().replace(f"numpy=={version('numpy')}", "numpy==1.26.4"))
    same = cli("env", "diff", run.run_id, run.run_id, "--exit-code", cwd=tmp_project)
    assert same.returncode == 0, same.stderr
    assert "identical" in same.stderr
    result = cli("env", "diff", run.run_id, "now", "--json", "--exit-code", cwd=tmp_project)
    assert result.returncode == 1
    changed = json.loads(result.stdout)["packages_changed"]
    assert [(c["name"], c["old"]["version"], c["new"]["version"]) for c in changed] == [
        ("numpy", version("numpy"), "1.26.4")
    ]
    table = cli("env", "diff", run.run_id, "now", cwd=tmp_project)
    assert "numpy==1.26.4" in table.stdout


def test_diff_of_a_folder_that_is_not_a_capture_names_the_file(cli: Cli, tmp_project: Path) -> None:
    (tmp_project / "empty").mkdir()
    result = cli("env", "diff", "empty", "empty", cwd=tmp_project)
    assert result.returncode == 1
    assert "empty" in result.stderr
    assert "hint: reprise env capture --output-dir" in result.stderr
