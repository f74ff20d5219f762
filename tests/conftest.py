"""Shared fixtures: an isolated environment, a real project in a temp dir, and PostgreSQL when present."""

from __future__ import annotations

import ast
import os
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


#: Fixture scopes whose value the tests of one module or class share: a trained project, a running server, a quickstart.
_SHARED_SCOPES = frozenset({"module", "class", "package"})


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's headless Chromium; skips without it (fails when REPRISE_REQUIRE_CHROMIUM=1, as in CI)."""
    found = shutil.which("chromium")
    if found is None:
        reason = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("REPRISE_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"{reason} (REPRISE_REQUIRE_CHROMIUM=1)")
        pytest.skip(reason)
    return found


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: the tests that use one module- or class-scoped fixture run on one worker.

    Such a fixture is built once per worker that runs one of its tests: spread over two workers, a module's trained
    project or running server would be built twice, which is most of what ``-n 2`` used to gain. Every other test,
    including the other tests of the same module, goes to whichever worker is free. (pytest-xdist's own
    ``loadgroup`` reads ``xdist_group`` marks through a node id rewrite that pytest 9.2 no longer honours, so the
    groups are decided here, from the test files' source.)
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath
    sharing = {
        path.relative_to(root).as_posix(): _tests_sharing_a_fixture(path) for path in root.glob("tests/**/test_*.py")
    }

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module, _, rest = nodeid.partition("::")
            names = sharing.get(module, set())
            name = rest.rsplit("::", 1)[-1].split("[", 1)[0]
            return module if "*" in names or name in names else nodeid

    return SharedFixtureScheduling(config, log)


def _tests_sharing_a_fixture(path: Path) -> set[str]:
    """The tests of ``path`` that use, directly or through another fixture, a module- or class-scoped one it defines.

    ``{"*"}`` stands for every test of the module: one such fixture is autouse, or is named in a string
    (``usefixtures``).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    scopes = {function.name: scope for function in functions if (scope := _fixture_scope(function)) is not None}
    shared = {name for name, scope in scopes.items() if scope[0] in _SHARED_SCOPES}
    if any(scopes[name][1] for name in shared) or any(
        isinstance(node, ast.Constant) and node.value in shared for node in ast.walk(tree)
    ):
        return {"*"}
    arguments = {function.name: {argument.arg for argument in function.args.args} for function in functions}
    grew = True
    while grew:  # a function-scoped fixture built on a shared one is shared by the tests that use it
        grew = False
        for name in scopes.keys() - shared:
            if arguments[name] & shared:
                shared.add(name)
                grew = True
    return {name for name, used in arguments.items() if name.startswith("test") and used & shared}


def _fixture_scope(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, bool] | None:
    """``(scope, autouse)`` when ``function`` is decorated as a pytest fixture, else None."""
    for decorator in function.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        if not ast.unparse(call.func if call is not None else decorator).endswith("fixture"):
            continue
        keywords = {keyword.arg: keyword.value for keyword in (call.keywords if call is not None else [])}
        scope, autouse = keywords.get("scope"), keywords.get("autouse")
        return (
            scope.value if isinstance(scope, ast.Constant) else "function",
            isinstance(autouse, ast.Constant) and autouse.value is True,
        )
    return None
