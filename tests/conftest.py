"""Shared fixtures: an isolated environment, a real project in a temp dir, and PostgreSQL when present."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Reprise Tests",
    "GIT_AUTHOR_EMAIL": "tests@reprise.invalid",
    "GIT_COMMITTER_NAME": "Reprise Tests",
    "GIT_COMMITTER_EMAIL": "tests@reprise.invalid",
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No phone-home, a fixed git identity, and no REPRISE_*/MLFLOW_* settings leaking in from the shell."""
    for name in list(os.environ):
        ours = name.startswith(("REPRISE_", "MLFLOW_")) and name != "REPRISE_REQUIRE_POSTGRES"
        if ours or name == "PYTHONHASHSEED":
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "dvc-site-cache"))
    for name, value in _GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def mlflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty MLflow SQLite store, built once: creating one costs 4-6 s of migrations.

    Built the way Reprise builds a project's store, so the Default experiment's artifacts stay in a temp folder.
    """
    from reprise.config import load_settings
    from reprise.project import init_project
    from reprise.tracking._client import client_for

    root = tmp_path_factory.mktemp("mlflow-template")
    init_project(root)
    settings = load_settings(root, environ={})
    client_for(settings).search_experiments()
    return settings.state_dir / "mlflow.db"


@pytest.fixture
def tmp_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_db_template: Path) -> Path:
    """A real Reprise project (git + DVC + reprise.toml) with one commit, as the working directory."""
    from reprise.project import init_project

    root = tmp_path / "project"
    init_project(root)
    shutil.copyfile(mlflow_db_template, root / ".reprise" / "mlflow.db")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=root, check=True)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def global_seed() -> int:
    """The seed tests use, rotated by setting REPRISE_TEST_SEED (scikit-learn's global_random_seed)."""
    return int(os.environ.get("REPRISE_TEST_SEED", "42"))


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a scratch database on the local PostgreSQL; skips (fails in CI) when there is none."""
    base = os.environ.get("REPRISE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        import psycopg

        with psycopg.connect(base, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as exc:  # any failure to connect means: no usable server here
        reason = f"PostgreSQL not reachable at {base}: {exc}"
        if os.environ.get("REPRISE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (REPRISE_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    return base


#: A fixture shared by the tests of one module or class: a trained project, a running server, a quickstart.
_SHARED_FIXTURE = re.compile(r"@pytest\.fixture\([^)]*scope\s*=\s*[\"'](?:module|class|package)[\"']")


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: the tests of a module that defines a module- or class-scoped fixture run on one worker.

    Such a fixture is built once per worker that runs one of its tests: spread over two workers, a module's trained
    project or running server would be built twice, which is most of what ``-n 2`` used to gain. Every other test
    goes to whichever worker is free. (pytest-xdist's own ``loadgroup`` reads ``xdist_group`` marks through a node id
    rewrite that pytest 9.2 no longer honours, so the groups are decided here, from the test files.)
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath
    shared = {
        path.relative_to(root).as_posix()
        for path in (root / "tests").rglob("test_*.py")
        if _SHARED_FIXTURE.search(path.read_text(encoding="utf-8"))
    }

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in shared else nodeid

    return SharedFixtureScheduling(config, log)
