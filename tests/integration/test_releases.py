"""Releases on a real project (git, DVC, MLflow on SQLite) with the metadata store on SQLite and on PostgreSQL:
creation and semver uniqueness, a real verification, promotion moving the MLflow alias, a rollback, history at a time,
an edited and a deleted event caught by the chain, and every guard refusing then recording ``--force --reason``.

One project per backend is built per module: a data version, a captured training run (a script run by
``python train.py``, so it can be re-run), three registrations of its model (one failing a gate) and four unified
versions. Each test works on its own release names.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from sqlalchemy import delete, func, select, update

import reprise
from reprise.cli.main import main
from reprise.config import Settings, load_settings
from reprise.errors import AttestationError, ConfigError, ReleaseGuardError, VersioningError
from reprise.reproduce.replay import record_reproduction
from reprise.reproduce.targets import reproduce_target
from reprise.serve.app import create_app
from reprise.serve.loader import prepare
from reprise.serve.options import ServeOptions
from reprise.store.db import open_store, writing
from reprise.store.lineage import walk
from reprise.store.tables import release_events
from reprise.versioning.attestation import attest_release, verify_attestation
from reprise.versioning.git_tags import GitTag, parse_tag
from reprise.versioning.keys import generate_key, revoke_key
from reprise.versioning.lineage import impact
from reprise.versioning.promotion import promote_release, rollback_release
from reprise.versioning.release_diff import diff_releases
from reprise.versioning.release_history import release_history
from reprise.versioning.releases import (
    create_release,
    deprecate_release,
    get_release,
    list_releases,
    record_verification,
)
from reprise.versioning.revocations import revoke_data, revoke_release
from reprise.versioning.unified import create_version

TRAIN = """\
import os

import mlflow
import reprise
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

C = float(os.environ.get("TRAIN_C", "1.0"))
with reprise.start_run("train", inputs=["data"], params={"C": C}) as run:
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(C=C, max_iter=500).fit(X, y)
    run.log_metrics({"accuracy": float(model.score(X, y))})
    mlflow.sklearn.log_model(
        model, name="model", signature=infer_signature(X, model.predict(X)), serialization_format="cloudpickle",
        pip_requirements=["scikit-learn"],
    )
print(run.run_id)
"""
_GIT = ["git", "-c", "user.name=Reprise Tests", "-c", "user.email=tests@reprise.invalid"]


@dataclass(frozen=True)
class Project:
    settings: Settings
    run_id: str
    env: dict[str, str]

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.settings.tracking_uri)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path
) -> Iterator[Project]:
    """Unified versions ``good`` (model clf/1), ``bad`` (clf/2, failed its gate), ``next`` (clf/3) and ``extra`` (clf/1
    and the data version ``extra@v1``), all from one captured run that read ``table@v1``."""
    root = tmp_path_factory.mktemp("releases") / "project"
    url = (
        f"sqlite:///{root.parent / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_databases")()
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("REPRISE_", "MLFLOW_"))},
        "REPRISE_STORE_URI": url,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        "DO_NOT_TRACK": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key in ("REPRISE_STORE_URI", "MLFLOW_DISABLE_TELEMETRY", "DVC_NO_ANALYTICS", "DO_NOT_TRACK"):
            patch.setenv(key, env[key])
        reprise.init_project(root)
        shutil.copyfile(mlflow_db_template, root / ".reprise" / "mlflow.db")
        settings = load_settings(root)
        (root / "train.py").write_text(TRAIN)
        subprocess.run([*_GIT, "add", "-A"], cwd=root, check=True)
        subprocess.run([*_GIT, "commit", "-q", "-m", "init"], cwd=root, check=True)
        (root / "data").mkdir()
        (root / "data" / "table.csv").write_text("a,b\n1,2\n3,4\n")
        (root / "extra.csv").write_text("x\n1\n")
        reprise.version_data(root / "data" / "table.csv", version_name="table@v1", settings=settings)
        reprise.version_data(root / "extra.csv", version_name="extra@v1", settings=settings)
        run_id = _train(root, env)
        for gates in ([], ["accuracy >= 2.0"], []):
            reprise.register_model(run_id, "clf", gates=gates, settings=settings)
        create_version("good", runs=[run_id], model="clf/1", settings=settings)
        create_version("bad", runs=[run_id], model="clf/2", settings=settings)
        create_version("next", runs=[run_id], model="clf/3", settings=settings)
        create_version("extra", runs=[run_id], data=["extra@v1"], model="clf/1", settings=settings)
        yield Project(settings, run_id, env)


def _train(root: Path, env: dict[str, str]) -> str:
    """Run ``python train.py`` (a captured run); its run id."""
    done = subprocess.run(
        ["python", "train.py"], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _verified(project: Project, ref: str) -> str:
    """Record an identical reproduction of ``ref`` the way ``release verify`` does (its re-run is tested once, in
    :func:`test_verify_promote_through_every_environment_roll_back_and_read_the_history_at_a_time`)."""
    reproduction_id = uuid.uuid4().hex
    record_reproduction(
        project.settings,
        reproduction_id=reproduction_id,
        target=ref,
        verdict="identical",
        causes=[],
        details={},
        report_path=None,
        seconds=0.1,
    )
    return reproduction_id


def _alias(project: Project, alias: str) -> int:
    return int(project.client.get_model_version_by_alias("clf", alias).version)


def test_a_release_freezes_its_components_with_digests_and_its_semver_is_unique(project: Project) -> None:
    settings = project.settings
    release = create_release("frozen", "v1.0.0+build.1", from_version="version:good", notes="first", settings=settings)
    assert (release.ref, release.build, release.status, release.model) == (
        "release:frozen@1.0.0",
        "build.1",
        "draft",
        "model:clf/1",
    )
    digests = {component.ref: component.digest for component in release.components}
    assert digests["data:table@v1"].startswith("sha256:")
    assert digests["model:clf/1"].startswith("sha256:")  # one digest over the model's files
    assert digests[f"run:{project.run_id}"].startswith("sha256:")
    assert any(ref.startswith("commit:") for ref in digests)
    with pytest.raises(VersioningError, match="exists already"):
        create_release("frozen", "1.0.0+build.2", from_version="good", settings=settings)  # build metadata aside
    with pytest.raises(VersioningError, match="not a semantic version"):
        create_release("frozen", "1.0", from_version="good", settings=settings)
    for version in ("1.0.0-rc.1", "0.9.0", "1.0.0-alpha", "1.0.0-rc.1.1"):
        create_release("frozen", version, from_version="good", settings=settings)
    assert [r.version for r in list_releases("frozen", settings=settings)] == [
        "0.9.0",
        "1.0.0-alpha",
        "1.0.0-rc.1",
        "1.0.0-rc.1.1",
        "1.0.0",
    ]
    upstream = {reached.ref for reached in walk(open_store(settings), release.ref, "up")}
    assert {"version:good", "data:table@v1", "model:clf/1", f"run:{project.run_id}"} <= upstream
    assert get_release("release:frozen@1.0.0", settings=settings).notes == "first"


def test_verify_promote_through_every_environment_roll_back_and_read_the_history_at_a_time(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = project.settings
    monkeypatch.setenv("REPRISE_STORE_URI", project.env["REPRISE_STORE_URI"])
    create_release("flow", "1.0.0", from_version="good", settings=settings)
    with pytest.raises(ReleaseGuardError, match=r"guard 'verified'.*no recorded reproduction") as refused:
        promote_release("flow@1.0.0", "dev", settings=settings)
    assert refused.value.hint is not None and "reprise release verify flow@1.0.0" in refused.value.hint

    if project.env["REPRISE_STORE_URI"].startswith("sqlite"):  # the re-run itself once (~20 s), not per backend
        result = reproduce_target("release:flow@1.0.0", settings=settings, in_place=True, echo=False)
        assert result.verdict.value == "identical", result.headline
    else:
        reproduction = _verified(project, "release:flow@1.0.0")
        record_verification(
            "flow@1.0.0", verdict="identical", reproduction_id=reproduction, headline="", settings=settings
        )
    assert get_release("flow@1.0.0", settings=settings).status == "candidate"
    for environment in settings.environments:
        move = promote_release("flow@1.0.0", environment, settings=settings)
        assert (move.from_version, move.to_version, move.forced) == (None, "1.0.0", ())
        assert _alias(project, environment) == 1
    assert get_release("flow@1.0.0", settings=settings).status == "released"
    assert not promote_release("flow@1.0.0", "production", settings=settings).changed
    between = datetime.now(UTC)

    create_release("flow", "1.1.0", from_version="next", git_tag=True, settings=settings)
    _verified(project, "release:flow@1.1.0")
    for environment in settings.environments:
        assert promote_release("flow@1.1.0", environment, git_tag=True, settings=settings).git_tag == (
            f"flow#{environment}#1"
        )
    assert _alias(project, "production") == 3
    back = rollback_release("flow", "production", reason="latency regression", git_tag=True, settings=settings)
    assert (back.kind, back.from_version, back.to_version) == ("rolled_back", "1.1.0", "1.0.0")
    listed = subprocess.run(
        ["git", "tag", "--list", "flow*"], cwd=settings.project_dir, capture_output=True, text=True, check=True
    )
    tags = [parse_tag(tag) for tag in listed.stdout.split()]
    assert len(tags) == 5 and set(tags) == {
        GitTag("flow", "1.1.0", None, None),
        *(GitTag("flow", None, environment, 1) for environment in settings.environments),
        GitTag("flow", None, "production", 2),  # the rollback: production's newest assignment
    }
    assert _alias(project, "production") == 1
    with pytest.raises(ReleaseGuardError, match="guard 'reason'"):
        rollback_release("flow", "staging", reason=" ", settings=settings)

    then = release_history("flow", environment="production", at=between, settings=settings)
    assert [(a.environment, a.version) for a in then.active] == [("production", "1.0.0")]
    now = release_history("flow", verify_chain=True, settings=settings)
    assert now.chain_problems == ()
    promoted = ["promoted"] * 3
    assert [event.kind for event in now.events] == [
        "created",
        "verified",
        *promoted,
        "created",
        *promoted,
        "rolled_back",
    ]
    assert {a.environment: a.version for a in now.active} == {"dev": "1.1.0", "staging": "1.1.0", "production": "1.0.0"}
    assert now.events[-1].reason == "latency regression"

    engine = open_store(settings)
    table = release_events
    with writing(engine) as conn:  # someone rewrites who promoted 1.1.0 to production
        conn.execute(
            update(table)
            .where(table.c.name == "flow", table.c.kind == "promoted", table.c.to_version == "1.1.0")
            .values(actor="mallory@nowhere")
        )
    problems = release_history("flow", verify_chain=True, settings=settings).chain_problems
    assert len(problems) == 3 and all("was edited" in p for p in problems), problems
    with writing(engine) as conn:  # and deletes the rollback
        last = conn.execute(select(func.max(table.c.position)).where(table.c.name == "flow")).scalar_one()
        conn.execute(delete(table).where(table.c.name == "flow", table.c.position == last))
    problems = release_history("flow", verify_chain=True, settings=settings).chain_problems
    assert any("its head says" in p for p in problems), problems

    assert _cli(project, monkeypatch, "release", "history", "flow", "--verify-chain") == 1


def test_each_guard_refuses_naming_itself_and_force_with_a_reason_is_recorded(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = project.settings
    create_release("g-order", "1.0.0", from_version="good", settings=settings)
    create_release("g-status", "1.0.0", from_version="good", settings=settings)
    create_release("g-revoked", "1.0.0", from_version="extra", settings=settings)
    create_release("g-gates", "1.0.0", from_version="bad", settings=settings)
    create_release("g-pre", "2.0.0-rc.1", from_version="good", settings=settings)
    for name in ("g-order", "g-status", "g-revoked", "g-gates"):
        _verified(project, f"release:{name}@1.0.0")
    _verified(project, "release:g-pre@2.0.0-rc.1")
    deprecate_release("g-status@1.0.0", reason="superseded", settings=settings)
    promote_release("g-revoked@1.0.0", "dev", settings=settings)
    revocation = revoke_data("extra@v1", reason="labels shifted by one row", settings=settings)
    assert revocation.releases == ("release:g-revoked@1.0.0",)
    assert [(a.environment, a.release) for a in revocation.active] == [("dev", "release:g-revoked@1.0.0")]
    deployed = impact("data:extra@v1", environment="dev", settings=settings).deployed
    assert [(d.environment, d.release, d.promoted_by) for d in deployed] == [
        ("dev", "release:g-revoked@1.0.0", revocation.active[0].promoted_by)
    ]
    assert impact("data:extra@v1", environment="production", settings=settings).deployed == ()
    promote_release("g-pre@2.0.0-rc.1", "dev", settings=settings)
    promote_release("g-pre@2.0.0-rc.1", "staging", settings=settings)

    cases = [
        ("g-order@1.0.0", "staging", "order"),
        ("g-status@1.0.0", "dev", "status"),
        ("g-revoked@1.0.0", "staging", "revoked"),
        ("g-gates@1.0.0", "dev", "gates"),
        ("g-pre@2.0.0-rc.1", "production", "prerelease"),
    ]
    for ref, environment, guard in cases:
        with pytest.raises(ReleaseGuardError) as refused:
            promote_release(ref, environment, settings=settings)
        assert refused.value.guard == guard, (ref, refused.value)
        assert "\n" not in refused.value.message and "--force --reason" in (refused.value.hint or "")
        with pytest.raises(ReleaseGuardError, match="guard 'reason'"):
            promote_release(ref, environment, force=True, settings=settings)
        move = promote_release(ref, environment, force=True, reason=f"accepted {guard} risk", settings=settings)
        assert move.forced == (guard,)
        last = release_history(ref.split("@")[0], settings=settings).events[-1]
        assert (last.kind, last.forced, last.details["forced_guards"], last.reason) == (
            "promoted",
            True,
            [guard],
            f"accepted {guard} risk",
        )
    assert _alias(project, "dev") == 2  # the forced promotion of g-gates moved dev to the failing version

    revoke_release("g-order@1.0.0", reason="wrong order", settings=settings)
    assert get_release("g-order@1.0.0", settings=settings).status == "revoked"
    capsys.readouterr()
    assert _cli(project, monkeypatch, "release", "promote", "g-order@1.0.0", "--to", "production") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: guard 'revoked'") and len(err.strip().splitlines()) == 2  # message + hint


def _cli(project: Project, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """Run ``reprise ARGS`` in this process, in the project, against its store; the exit code."""
    monkeypatch.setenv("REPRISE_STORE_URI", project.env["REPRISE_STORE_URI"])
    monkeypatch.chdir(project.settings.project_dir)
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0)


def test_attested_releases_are_served_and_a_changed_model_file_or_a_revoked_key_is_refused(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(project.settings, keys_dir=tmp_path / "keys")
    with pytest.raises(ConfigError, match="inside the project"):
        generate_key(settings=dataclasses.replace(settings, keys_dir=settings.project_dir / "keys"))
    key = generate_key(settings=settings)
    private = tmp_path / "keys" / (key.key_id.replace(":", "-") + ".pem")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes() and "PRIVATE" not in key.model_dump_json()

    assert create_release("signed", "1.0.0", from_version="good", settings=settings).attestation_digest
    made = attest_release("signed@1.0.0", export=True, settings=settings)
    assert made.path == settings.project_dir / "releases" / "signed" / "1.0.0.intoto.jsonl"
    subprocess.run([*_GIT, "add", "releases"], cwd=settings.project_dir, check=True)  # next to the code
    subprocess.run([*_GIT, "commit", "-q", "-m", "attestation of signed 1.0.0"], cwd=settings.project_dir, check=True)
    (line,) = made.path.read_text().splitlines()
    envelope = json.loads(line)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert (envelope["payloadType"], statement["_type"], statement["predicateType"]) == (
        "application/vnd.in-toto+json",
        "https://in-toto.io/Statement/v1",
        "https://slsa.dev/provenance/v1",
    )
    assert "MLmodel" in {subject["name"] for subject in statement["subject"]}
    dependencies = {
        d.get("name") or d.get("uri") for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    }
    assert {"data:table@v1", "models:/clf/1"} <= dependencies
    assert verify_attestation("signed@1.0.0", settings=settings).ok
    _verified(project, "release:signed@1.0.0")
    for environment in settings.environments:
        promote_release("signed@1.0.0", environment, settings=settings)
    create_release("signed", "1.1.0", from_version="next", settings=settings)  # clf/3: the same files as clf/1
    _verified(project, "release:signed@1.1.0")

    options = ServeOptions(
        reload_interval=0.2, batching=False, freeze_gc=False, allow_pickle=True, require_attestation=True
    )
    app = create_app(settings, "clf@production", options=options)
    requirements = _stored_model_folder(project, 3) / "requirements.txt"
    original = requirements.read_bytes()

    record = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}
    provenance: list[tuple[str | None, Any]] = []

    async def exercise() -> tuple[dict[str, Any], dict[str, Any]]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client,
        ):
            deadline = time.monotonic() + 60
            while (await client.get("/health")).status_code != 200:
                assert time.monotonic() < deadline, (await client.get("/health")).json()
                await asyncio.sleep(0.05)
            answer = await client.post("/predict", json=record)
            provenance.append((answer.headers.get("x-release"), (await client.get("/model/info")).json()["release"]))
            requirements.write_bytes(original + b"evil-package\n")  # changed after the attestation
            for environment in settings.environments:
                await asyncio.to_thread(promote_release, "signed@1.1.0", environment, settings=settings)
            while (health := (await client.get("/health")).json())["last_error"] is None:
                assert time.monotonic() < deadline, health
                await asyncio.sleep(0.05)
            return health, (await client.get("/model/info")).json()

    try:
        health, info = asyncio.run(exercise())
        assert provenance == [("signed@1.0.0", "release:signed@1.0.0")]  # the release active in production
        assert (health["status"], info["version"]) == ("degraded", 1)  # the previous model keeps serving
        assert "model file requirements.txt changed since the attestation" in health["last_error"]["message"]
        with pytest.raises(AttestationError, match=r"requirements\.txt changed since the attestation"):
            prepare(settings, "clf/3", allow_pickle=True, require_attestation=True)
    finally:
        requirements.write_bytes(original)
    assert verify_attestation("signed@1.1.0", settings=settings).ok

    revoke_key(key.key_id, reason="laptop stolen", settings=settings)
    check = verify_attestation("signed@1.0.0", settings=settings)
    assert not check.ok and "revoked" in check.problems[0] and "laptop stolen" in check.problems[0]
    with pytest.raises(AttestationError, match="revoked"):
        prepare(settings, "clf@production", allow_pickle=True, require_attestation=True)
    assert _cli(project, monkeypatch, "release", "verify-attestation", "signed@1.0.0") == 6


def _stored_model_folder(project: Project, version: int) -> Path:
    """Where the registry keeps the files of ``clf`` v``version`` (a logged model's artifact folder)."""
    return Path(urllib.parse.urlparse(project.client.get_model_version("clf", str(version)).source).path)


def test_a_release_diff_names_the_changed_parameter_and_the_metric_deltas_in_a_page_chromium_renders(
    project: Project, tmp_path: Path, chromium: str
) -> None:
    settings = project.settings
    weak = _train(settings.project_dir, {**project.env, "TRAIN_C": "0.01"})
    number = reprise.register_model(weak, "clf", gates=[], settings=settings).version
    create_version("weak", runs=[weak], model=f"clf/{number}", settings=settings)
    create_release("diffed", "1.0.0", from_version="good", settings=settings)
    create_release("diffed", "1.1.0", from_version="weak", settings=settings)
    _verified(project, "release:diffed@1.0.0")
    diff = diff_releases("diffed@1.0.0", "diffed@1.1.0", settings=settings)
    assert [(p.name, p.a, p.b) for p in diff.params] == [("C", "1.0", "0.01")]
    accuracy = next(metric for metric in diff.metrics if metric.name == "accuracy")
    assert accuracy.a is not None and accuracy.b is not None and accuracy.b < accuracy.a
    assert accuracy.delta == pytest.approx(accuracy.b - accuracy.a)
    assert {change.kind for change in diff.components} >= {"model", f"run:{project.run_id}", f"run:{weak}"}
    packages = diff.packages
    assert (packages.packages_added, packages.packages_removed, packages.packages_changed, diff.data) == (
        [],
        [],
        [],
        (),
    )
    assert diff.reproductions == ("identical", None)

    page = tmp_path / "diff.html"
    page.write_text(diff.to_html())
    assert "http" not in page.read_text().replace('lang="en"', "")
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri(),
        ],
        env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<td>C</td><td>1.0</td><td>0.01</td>" in done.stdout
    assert (
        f"<td>accuracy</td><td>{accuracy.a:.6g}</td><td>{accuracy.b:.6g}</td><td>{accuracy.delta:+.6g}</td>"
        in done.stdout
    )


def test_a_running_serve_of_the_production_alias_follows_a_promotion_over_http(project: Project) -> None:
    settings = project.settings
    create_release("live", "1.0.0", from_version="good", settings=settings)
    create_release("live", "1.1.0", from_version="next", settings=settings)
    for version in ("1.0.0", "1.1.0"):
        _verified(project, f"release:live@{version}")
    for environment in settings.environments:
        promote_release("live@1.0.0", environment, settings=settings)
    port = _free_port()
    log = settings.project_dir.parent / "serve-live.log"
    argv = [sys.executable, "-m", "reprise", "serve", "clf@production", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*argv, "--reload-interval", "0.3", "--allow-pickle", "--no-batching"],
            cwd=settings.project_dir,
            env=project.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    record = {"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}

    def served(wanted: str) -> httpx.Response:
        """The first answer to ``/predict`` that comes from release ``wanted`` (60 s at most)."""
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.post(f"{url}/predict", json=record, timeout=5)
                if answer.status_code == 200 and answer.headers.get("x-release") == wanted:
                    return answer
            assert time.monotonic() < deadline, f"never served {wanted}:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)

    try:
        first = served("live@1.0.0")
        assert first.headers["x-model-version"] == "1"
        for environment in settings.environments:
            promote_release("live@1.1.0", environment, settings=settings)
        second = served("live@1.1.0")
        assert second.headers["x-model-version"] == "3"
        info = httpx.get(f"{url}/model/info", timeout=5).json()
        assert (info["version"], info["release"]) == (3, "release:live@1.1.0")
        rollback_release("live", "production", reason="back to 1.0.0", settings=settings)
        assert served("live@1.0.0").headers["x-model-version"] == "1"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
