"""Only maintainers promote to the last environment and revoke, on the team's real server (the session's ``team``).

MLflow's auth app guards MLflow's routes; releases, revocations and keys are rows in the metadata store, so Reprise asks
the server who the caller is. The project (a member's clone pointed at the team) holds one captured run of a small
model, registered as ``maint-clf``, a unified version, two releases, a data version and a signing key.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reprise.errors import ReleaseGuardError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import CleanEnv, Team
    from reprise.config import Settings

pytestmark = pytest.mark.postgres

TRAIN = """\
import mlflow
import reprise
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

with reprise.start_run("maintainers", params={"C": 1.0}) as run:
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    run.log_metrics({"accuracy": float(model.score(X, y))})
    mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle", pip_requirements=["scikit-learn"])
print(run.run_id)
"""


@dataclass(frozen=True)
class Project:
    settings: Settings
    key_id: str


def _login(patch: pytest.MonkeyPatch, team: Team, user: str) -> None:
    patch.setenv("MLFLOW_TRACKING_USERNAME", user)
    patch.setenv("MLFLOW_TRACKING_PASSWORD", team.passwords[user])


@pytest.fixture(scope="module")
def project(team: Team, clean_env: CleanEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """Built by the editor: releases ``maint@1.0.0`` and ``maint@1.1.0`` of ``maint-clf/1``, data ``maint-table@v1``."""
    import reprise
    from reprise.config import load_settings
    from reprise.project import TeamLink, init_project
    from reprise.versioning.keys import generate_key
    from reprise.versioning.releases import create_release
    from reprise.versioning.unified import create_version

    base = tmp_path_factory.mktemp("maintainers")
    root = base / "project"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPRISE_KEYS_DIR", str(base / "keys"))
        _login(patch, team, "editor")
        init_project(root, create_stores=True, team=TeamLink(team.url, team.store_uri, team.dvc_remote))
        (root / "train.py").write_text(TRAIN)
        subprocess.run(["git", "add", "-A"], cwd=root, check=True)
        subprocess.run(["git", "commit", "-q", "-m", "train"], cwd=root, check=True)
        env = clean_env(
            PATH=f"{Path(sys.executable).parent}:{clean_env()['PATH']}",
            MLFLOW_TRACKING_USERNAME="editor",
            MLFLOW_TRACKING_PASSWORD=team.passwords["editor"],
        )
        done = subprocess.run(
            ["python", "train.py"], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]
        run_id = done.stdout.strip().splitlines()[-1]
        settings = load_settings(root)
        reprise.register_model(run_id, "maint-clf", gates=[], settings=settings)
        create_version("maint-v1", runs=[run_id], model="maint-clf/1", settings=settings)
        for version in ("1.0.0", "1.1.0"):
            create_release("maint", version, from_version="maint-v1", sign=False, settings=settings)
        (root / "table.csv").write_text("a,b\n1,2\n")
        reprise.version_data(root / "table.csv", version_name="maint-table@v1", settings=settings)
        key = generate_key(settings=settings)
        yield Project(settings, key.key_id)


def _production_version(team: Team, monkeypatch: pytest.MonkeyPatch) -> int | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    _login(monkeypatch, team, "reader")
    try:
        return int(MlflowClient(tracking_uri=team.url).get_model_version_by_alias("maint-clf", "production").version)
    except MlflowException:
        return None


def test_an_editor_promotes_to_dev_but_is_refused_production_and_every_revocation_even_forced(
    team: Team, project: Project, monkeypatch: pytest.MonkeyPatch, clean_env: CleanEnv
) -> None:
    from reprise.versioning.keys import list_keys, revoke_key
    from reprise.versioning.promotion import promote_release, rollback_release
    from reprise.versioning.revocations import revoke_data, revoke_release

    settings = project.settings
    _login(monkeypatch, team, "editor")
    moved = promote_release("maint@1.0.0", "dev", force=True, reason="not verified yet", settings=settings)
    assert (moved.environment, moved.to_version, moved.forced) == ("dev", "1.0.0", ("verified",))

    refused = {
        "promote": lambda: promote_release("maint@1.0.0", "production", force=True, reason="r", settings=settings),
        "rollback": lambda: rollback_release("maint", "production", reason="r", force=True, settings=settings),
        "release": lambda: revoke_release("maint@1.1.0", reason="bad labels", settings=settings),
        "data": lambda: revoke_data("maint-table@v1", reason="bad labels", settings=settings),
        "key": lambda: revoke_key(project.key_id, reason="leaked", settings=settings),
    }
    for what, attempt in refused.items():
        with pytest.raises(ReleaseGuardError) as caught:
            attempt()
        assert caught.value.guard == "maintainer", what
        assert "editor is an editor" in caught.value.message, what
        assert "--role maintainer" in str(caught.value.hint), what
    assert _production_version(team, monkeypatch) is None
    assert all(key.revoked_at is None for key in list_keys(settings=settings))

    # The command line says it in one line, with the role needed and how to get it, and exits 1.
    env = clean_env(MLFLOW_TRACKING_USERNAME="editor", MLFLOW_TRACKING_PASSWORD=team.passwords["editor"])
    done = subprocess.run(
        [sys.executable, "-m", "reprise", "release", "promote", "maint@1.0.0", "--to", "production"],
        cwd=settings.project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "guard 'maintainer': promoting maint@1.0.0 to production needs a maintainer" in done.stderr
    assert f"reprise team add-member editor --role maintainer --url {team.url}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_maintainer_promotes_to_production_and_revokes(
    team: Team, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reprise.versioning.keys import revoke_key
    from reprise.versioning.promotion import promote_release
    from reprise.versioning.revocations import revoke_data, revoke_release

    settings = project.settings
    _login(monkeypatch, team, "maintainer")
    moved = promote_release("maint@1.0.0", "production", force=True, reason="hotfix approved", settings=settings)
    assert (moved.environment, moved.to_version, moved.model) == ("production", "1.0.0", "model:maint-clf/1")
    assert _production_version(team, monkeypatch) == 1

    _login(monkeypatch, team, "maintainer")
    assert revoke_release("maint@1.1.0", reason="bad labels", settings=settings).ref == "release:maint@1.1.0"
    assert revoke_data("maint-table@v1", reason="bad labels", settings=settings).actor
    assert revoke_key(project.key_id, reason="leaked", settings=settings).revoked_at is not None
