from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reprise.config import load_settings
from reprise.errors import ConfigError
from reprise.project import init_project


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def test_init_makes_a_project_from_an_empty_folder(tmp_path: Path) -> None:
    root = tmp_path / "new"
    report = init_project(root)
    assert report.project_dir == root.resolve()
    assert (root / ".git").is_dir()
    assert (root / ".dvc").is_dir()
    assert (root / "reprise.toml").is_file()
    assert "/.reprise/" in (root / ".gitignore").read_text()
    config = (root / ".dvc" / "config").read_text()
    assert "analytics = False" in config
    assert "check_update = False" in config
    assert load_settings(root, environ={}).experiment == "new"
    assert len(report.actions) == 5


def test_init_twice_changes_nothing(tmp_path: Path) -> None:
    init_project(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and ".git/" not in p.as_posix()}
    report = init_project(tmp_path)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and ".git/" not in p.as_posix()}
    assert report.actions == []
    assert before == after


def test_init_in_an_existing_repo_keeps_what_it_does_not_own(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("*.pyc")  # no trailing newline: must not be glued to our line
    (tmp_path / "train.py").write_text("print('hi')\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "user work")
    head = _git(tmp_path, "rev-parse", "HEAD")
    report = init_project(tmp_path)
    assert "initialised a git repository" not in report.actions
    assert _git(tmp_path, "rev-parse", "HEAD") == head
    assert (tmp_path / ".gitignore").read_text().splitlines()[0] == "*.pyc"
    assert (tmp_path / "train.py").read_text() == "print('hi')\n"
    assert "/.reprise/" in (tmp_path / ".gitignore").read_text().splitlines()


def test_init_in_a_subfolder_of_a_repo_uses_dvc_subdir(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    sub = tmp_path / "ml"
    report = init_project(sub)
    assert not (sub / ".git").exists()
    assert (sub / ".dvc").is_dir()
    assert "initialised a git repository" not in report.actions


def test_state_folder_is_ignored_by_git(tmp_project: Path) -> None:
    (tmp_project / ".reprise" / "scratch").write_text("x")
    assert ".reprise" not in _git(tmp_project, "status", "--porcelain")


def test_init_with_stores_creates_both_once(tmp_path: Path) -> None:
    import sqlite3

    root = tmp_path / "with-stores"
    report = init_project(root, create_stores=True)
    state = root / ".reprise"
    assert any(action.startswith("created the tracking store") for action in report.actions)
    assert any(action.startswith("created the metadata store") for action in report.actions)
    with sqlite3.connect(state / "mlflow.db") as conn:
        assert conn.execute("SELECT count(*) FROM experiments").fetchone() == (1,)  # Default, nothing else
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    with sqlite3.connect(state / "reprise.db") as conn:
        assert conn.execute("SELECT max(version) FROM reprise_schema_migrations").fetchone()[0] >= 1
    assert (state / "mlflow.db.lock").exists()
    assert (state / "reprise.db.lock").exists()
    assert init_project(root, create_stores=True).actions == []


def test_init_where_the_folder_cannot_be_made_is_one_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x\n")
    with pytest.raises(ConfigError, match="cannot create the project in") as caught:
        init_project(blocker / "project")
    assert caught.value.exit_code == 2
    assert caught.value.hint == "pick a folder you can write: reprise init <folder>"
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        init_project(blocker)
