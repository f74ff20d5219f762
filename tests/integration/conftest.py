"""Fixtures shared by the integration tests: a fresh metadata store on SQLite and on the real PostgreSQL, and one
team server (``reprise team serve``: MLflow with basic auth on a scratch PostgreSQL database) for the session."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from reprise.store import db

StoreUrl = Callable[[], str]
CleanEnv = Callable[..., dict[str, str]]

_ADMIN_PASSWORD = "Adm1n-team-pw-4471"
_DB_PASSWORD = "planted-db-pw-9031"  # trust auth ignores it: it must reach the server and be written nowhere


@dataclass(frozen=True)
class Team:
    """The session's team server: its URL, folder, store, DVC remote, what it printed, and every member's password.

    Members ``reader``, ``editor`` and ``maintainer`` hold the role of their name; ``admin`` is the server's admin.
    """

    url: str
    directory: Path
    store_uri: str
    dvc_remote: str
    stdout: str
    passwords: dict[str, str]
    db_password: str


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPRISE_", "MLFLOW_", "PG"))}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1", **extra})
    return env


@pytest.fixture(scope="session")
def clean_env() -> CleanEnv:
    """Builds a child process's environment: none of the shell's REPRISE_/MLFLOW_/PG settings, no telemetry."""
    return _clean_env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def team(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """One team server for the session (per xdist worker), on a database created for it and dropped afterwards.

    Started by ``reprise team serve`` in a subprocess on a free loopback port and stopped by its PID. Tests sharing
    it name their own experiments and models, and look for their own runs' artifacts only.
    """
    pytest.importorskip("flask_wtf", reason="Flask-WTF (MLflow's auth extra) is not installed")
    import psycopg

    from reprise.team._http import Credentials
    from reprise.team.roles import add_member

    name = f"reprise_team_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_url.rsplit("/", 1)[0]
    database = base.replace("postgres@", f"postgres:{_DB_PASSWORD}@", 1) + f"/{name}"
    directory = tmp_path_factory.mktemp("team") / "server"
    port = _free_port()
    out, err = directory.parent / "stdout.txt", directory.parent / "stderr.txt"
    argv = [sys.executable, "-m", "reprise", "team", "serve", "--db", database, "--dir", str(directory)]
    argv += ["--port", str(port), "--workers", "1", "--json"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            argv, env=_clean_env(MLFLOW_AUTH_ADMIN_PASSWORD=_ADMIN_PASSWORD), stdout=stdout, stderr=stderr
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while not (_answers(url) and out.stat().st_size):
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"no team server within 240 s: {err.read_text()}"
            time.sleep(0.5)
        admin = Credentials("admin", _ADMIN_PASSWORD)
        passwords = {"admin": _ADMIN_PASSWORD}
        for role in ("reader", "editor", "maintainer"):
            passwords[role] = f"{role}-Pw-{uuid.uuid4().hex[:8]}"
            add_member(url, admin, role, passwords[role], role)
        yield Team(
            url, directory, f"{base}/{name}", str(directory / "dvc-remote"), out.read_text(), passwords, _DB_PASSWORD
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        db.dispose_engines()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_databases(postgres_url: str) -> Iterator[StoreUrl]:
    """Makes fresh databases (``reprise_test_<random>``) on the server; drops all of them at the end."""
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"reprise_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return postgres_url.rsplit("/", 1)[0] + f"/{name}"

    yield make
    db.dispose_engines()
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state' / 'reprise.db'}"
    else:
        url = request.getfixturevalue("postgres_databases")()
    yield url
    db.dispose_engines()
