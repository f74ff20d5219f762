"""Team mode against a real ``mlflow server`` (basic auth, proxied artifacts) on a scratch PostgreSQL database.

The server is the session's ``team`` fixture (tests/integration/conftest.py), shared with the other team tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import CleanEnv, Team

pytestmark = pytest.mark.postgres
# MLflow's basic-auth app needs Flask-WTF (mlflow[auth]); `reprise team serve` says so when it is missing.
pytest.importorskip("flask_wtf", reason="Flask-WTF (MLflow's auth extra) is not installed")


def _login(monkeypatch: pytest.MonkeyPatch, team: Team, user: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", team.passwords[user])


def test_serve_starts_an_authenticated_server_on_postgres_and_writes_no_secret(team: Team) -> None:
    import psycopg

    from reprise.team._http import Credentials, call

    printed = json.loads(team.stdout)
    assert printed["url"] == team.url
    assert printed["store_uri"] == team.store_uri  # the password is not in what members copy
    assert any(
        line.startswith(f"reprise init --team {team.url} --team-store {team.store_uri}")
        for line in printed["member_setup"]
    )
    assert call(team.url, "GET", "/api/2.0/mlflow/experiments/search", params={"max_results": "1"}).status == 401
    admin = Credentials("admin", team.passwords["admin"])
    assert (
        call(team.url, "GET", "/api/2.0/mlflow/experiments/search", auth=admin, params={"max_results": "1"}).status
        == 200
    )
    # The metadata store's tables are in the same database as MLflow's and its auth tables.
    with psycopg.connect(team.store_uri) as conn:
        tables = {row[0] for row in conn.execute("select tablename from pg_tables where schemaname = 'public'")}
    assert {"reprise_schema_migrations", "reprise_lineage_edges", "runs", "experiments", "users", "roles"} <= tables
    for path in [
        *team.directory.rglob("*"),
        team.directory.parent / "stdout.txt",
        team.directory.parent / "stderr.txt",
    ]:
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert team.db_password not in text, path
            assert team.passwords["admin"] not in text, path


def test_serve_refuses_a_public_interface_without_the_explicit_flag(tmp_path: Path, clean_env: CleanEnv) -> None:
    argv = [sys.executable, "-m", "reprise", "team", "serve", "--db", "postgresql://postgres@127.0.0.1:5432/x"]
    argv += ["--dir", str(tmp_path / "srv"), "--host", "0.0.0.0"]
    done = subprocess.run(
        argv,
        env=clean_env(MLFLOW_AUTH_ADMIN_PASSWORD="x" * 12),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--allow-remote" in done.stderr
    assert not (tmp_path / "srv").exists()


def test_a_run_captured_by_one_member_is_read_back_by_another_through_the_server_only(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    import reprise
    from reprise.config import load_settings
    from reprise.project import TeamLink, init_project
    from reprise.team._http import Credentials, call
    from reprise.tracking._client import client_for, fetch_artifacts

    root = tmp_path / "alice"
    link = TeamLink(tracking_uri=team.url, store_uri=team.store_uri, dvc_remote=team.dvc_remote)
    _login(monkeypatch, team, "editor")
    report = init_project(root, create_stores=True, team=link)
    assert any("pointed reprise.toml" in action for action in report.actions)
    toml = (root / "reprise.toml").read_text()
    assert f'tracking_uri = "{team.url}"' in toml
    assert f'store_uri = "{team.store_uri}"' in toml
    assert team.passwords["editor"] not in toml
    assert f"url = {team.dvc_remote}" in (root / ".dvc" / "config").read_text()
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=root, check=True)
    monkeypatch.chdir(root)
    (root / "out.txt").write_text("the result\n")
    with reprise.start_run("team-exp", params={"alpha": 0.5}, outputs=["out.txt"]) as run:
        mlflow.log_metrics({"score": 0.75})
    settings = load_settings(root)
    experiment = client_for(settings).get_experiment_by_name("team-exp")
    assert experiment is not None
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server's store, not a local path
    uploaded = [p for p in team.directory.joinpath("artifacts").rglob("record.json") if run.run_id in p.parts]
    assert len(uploaded) == 1

    _login(monkeypatch, team, "reader")
    record = fetch_artifacts(settings, run.run_id, "reprise/record.json", tmp_path / "bob")
    assert json.loads(record.read_text())["run_id"] == run.run_id
    # The reader cannot write into the run's artifacts, and nobody anonymous can read them.
    root_path = experiment.artifact_location.split(":", 1)[1].strip("/")
    path = f"/api/2.0/mlflow-artifacts/artifacts/{root_path}/{run.run_id}/artifacts/evil.txt"
    reader = Credentials("reader", team.passwords["reader"])
    assert call(team.url, "PUT", path, auth=reader, data=b"evil").status == 403
    assert call(team.url, "GET", path.replace("evil.txt", "reprise/record.json")).status == 401
    assert call(team.url, "GET", path.replace("evil.txt", "reprise/record.json"), auth=reader).status == 200


def test_audit_of_the_real_server_finds_no_route_that_answers_when_it_should_refuse(team: Team) -> None:
    from reprise.team._http import Credentials
    from reprise.team.audit import PROBES, audit_server

    report = audit_server(team.url, Credentials("admin", team.passwords["admin"]))
    assert report.requests == 3 * sum(2 if probe.path.startswith("/api/") else 1 for probe in PROBES)
    assert report.leaks == ()
    assert report.refusals == ()  # readers read, editors edit: the roles work on every family


SEEDED = """\
import numpy as np
import reprise

with reprise.start_run("shared", params={"n": 100}) as run:
    values = np.random.default_rng(run.seeds.seed).normal(size=100)
    run.log_metrics({"mean": float(values.mean())})
"""


def test_a_teammate_reproduces_a_run_from_the_shared_stores_and_a_clone_alone(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: CleanEnv
) -> None:
    from mlflow import MlflowClient

    from reprise.config import load_settings
    from reprise.project import TeamLink, init_project
    from reprise.reproduce.replay import reproduce_run

    alice, bob = tmp_path / "alice", tmp_path / "bob"
    init_project(alice, create_stores=True, team=TeamLink(team.url, team.store_uri, team.dvc_remote))
    (alice / "seeded.py").write_text(SEEDED)
    subprocess.run(["git", "add", "-A"], cwd=alice, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "seeded"], cwd=alice, check=True)
    login = {"MLFLOW_TRACKING_USERNAME": "editor", "MLFLOW_TRACKING_PASSWORD": team.passwords["editor"]}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        ["python", "seeded.py"],
        cwd=alice,
        env=clean_env(PATH=path, **login),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    _login(monkeypatch, team, "maintainer")
    client = MlflowClient(tracking_uri=team.url)
    experiment = client.get_experiment_by_name("shared")
    assert experiment is not None
    (captured,) = client.search_runs([experiment.experiment_id])
    record = Path(client.download_artifacts(captured.info.run_id, "reprise/record.json", str(tmp_path / "dl")))
    recorded_env = json.loads(record.read_text())["environment"]["env_vars"]
    assert recorded_env["MLFLOW_TRACKING_PASSWORD"] == "***"
    assert team.passwords["editor"] not in record.read_text()

    # Bob has a clone of the code and his own login; the runs, records and artifacts come from the server.
    subprocess.run(["git", "clone", "-q", str(alice), str(bob)], check=True)
    init_project(bob)
    monkeypatch.chdir(bob)
    monkeypatch.setenv("PATH", path)
    result = reproduce_run(captured.info.run_id, settings=load_settings(bob), in_place=True)
    assert result.verdict.value == "identical", result.headline
    again = client.get_run(str(result.reproduction_run_id))
    assert again.data.metrics["mean"] == captured.data.metrics["mean"]


CLIENT = """\
import sys
import reprise

for i in range(2):
    with reprise.start_run("concurrent", params={"client": sys.argv[1], "i": i}) as run:
        run.log_metrics({"i": float(i)})
"""


def test_eight_clients_capturing_at_once_through_the_server_lose_nothing(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: CleanEnv
) -> None:
    from mlflow import MlflowClient

    from reprise.project import TeamLink, init_project

    root = tmp_path / "shared"
    init_project(root, team=TeamLink(team.url, team.store_uri, team.dvc_remote))
    (root / "client.py").write_text(CLIENT)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "client"], cwd=root, check=True)
    login = {"MLFLOW_TRACKING_USERNAME": "editor", "MLFLOW_TRACKING_PASSWORD": team.passwords["editor"]}
    logs = [tmp_path / f"client-{n}.log" for n in range(8)]
    clients = []
    for n, log in enumerate(logs):
        with log.open("wb") as sink:
            clients.append(
                subprocess.Popen([sys.executable, "client.py", str(n)], cwd=root, env=clean_env(**login), stderr=sink)
            )
    try:
        codes = [client.wait(timeout=600) for client in clients]
    finally:
        for client in clients:  # a client still running after a failure is stopped, not left to the next test
            if client.poll() is None:
                client.kill()
                client.wait()
    for code, log in zip(codes, logs, strict=True):
        assert code == 0, log.read_text()[-2000:]
    _login(monkeypatch, team, "reader")
    mlflow = MlflowClient(tracking_uri=team.url)
    experiment = mlflow.get_experiment_by_name("concurrent")
    assert experiment is not None
    runs = mlflow.search_runs([experiment.experiment_id], max_results=100)
    assert sorted((r.data.params["client"], r.data.params["i"]) for r in runs) == sorted(
        (str(n), str(i)) for n in range(8) for i in range(2)
    )
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.metrics["i"] == float(run.data.params["i"])
        assert "reprise/record.json" in {a.path for a in mlflow.list_artifacts(run.info.run_id, "reprise")}
