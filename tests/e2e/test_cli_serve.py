"""``reprise serve`` as a user types it: its options and its errors (serving: tests/integration/test_serve_http.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Cli


def test_serve_help_lists_its_options(cli: Cli, tmp_path: Path) -> None:
    result = cli("serve", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for flag in ("--host", "--port", "--workers", "--reload-interval", "--max-batch-records", "--no-batching"):
        assert flag in result.stdout


def test_serve_says_what_is_wrong_with_the_reference(cli: Cli, tmp_path: Path, mlflow_db_template: Path) -> None:
    # Serving needs only reprise.toml and the tracking store: no git, no DVC.
    (tmp_path / "reprise.toml").write_text("")
    (tmp_path / ".reprise").mkdir()
    shutil.copyfile(mlflow_db_template, tmp_path / ".reprise" / "mlflow.db")
    malformed = cli("serve", "a/b/c", cwd=tmp_path)
    unknown = cli("serve", "nope@champion", cwd=tmp_path)
    assert malformed.returncode == 1
    assert "cannot read model reference 'a/b/c'" in malformed.stderr
    assert unknown.returncode == 3
    assert "no registered model 'nope'" in unknown.stderr
    assert "hint: reprise registry list" in unknown.stderr
    for result in (malformed, unknown):
        assert "Traceback" not in result.stderr
        assert "serving a/b/c" not in result.stderr + result.stdout  # nothing announced before the reference is checked
        assert "serving nope" not in result.stderr + result.stdout


def test_serve_outside_a_project_says_reprise_init(cli: Cli, tmp_path: Path) -> None:
    result = cli("serve", "m@champion", cwd=tmp_path)
    assert result.returncode == 2
    assert "hint: reprise init" in result.stderr
