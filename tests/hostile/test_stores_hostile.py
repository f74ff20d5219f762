"""Hostile stores (issue 18): concurrent first use, half-migrated, damaged and unreachable stores, bad settings.

Every case drives the real CLI in subprocesses against real SQLite files, a real PostgreSQL server and real sockets,
and asserts either a correct recovery or one clear error line (``error: ...`` plus its hint, no traceback) within a
bounded time. Exit codes, as documented on the error classes in ``reprise.errors``: 1 for a store that cannot be
reached, read or repaired (``TrackingError``, ``StoreError``), 2 for a setting or folder that is wrong
(``ConfigError``).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reprise.config import load_settings
from reprise.project import init_project

if TYPE_CHECKING:
    from collections.abc import Callable

    Cli = Callable[..., subprocess.CompletedProcess[str]]

_N = 8


def _error_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The one ``error:`` line of a failed command, after checking there is nothing else but its hint."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    # MLflow's own INFO lines ("Creating initial MLflow database tables...") may precede ours.
    ours = [line for line in result.stderr.splitlines() if line.strip() and " INFO " not in line]
    errors = [line for line in ours if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert len(ours) <= 2, result.stderr  # the error and its hint
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def _fresh_project(root: Path, extra_config: str = "") -> Path:
    """A project as a fresh clone has it: git, DVC and reprise.toml committed, no stores under .reprise/ yet."""
    init_project(root)
    if extra_config:
        with (root / "reprise.toml").open("a", encoding="utf-8") as config:
            config.write(extra_config)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=root, check=True)
    return root


def _concurrent_first_runs(cli: Cli, root: Path) -> None:
    start = time.monotonic()
    with ThreadPoolExecutor(_N) as pool:
        results = list(
            pool.map(lambda _: cli("run", "--", sys.executable, "-c", "pass", cwd=root, timeout=240), range(_N))
        )
    elapsed = time.monotonic() - start
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
    from mlflow import MlflowClient

    settings = load_settings(root, environ={})
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    experiment = client.get_experiment_by_name(settings.experiment)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    assert len(runs) == _N
    assert {run.info.status for run in runs} == {"FINISHED"}
    later = cli("registry", "list", cwd=root, timeout=120)
    assert later.returncode == 0, later.stderr
    assert elapsed < 240


def test_eight_concurrent_first_runs_on_a_fresh_sqlite_project(cli: Cli, tmp_path: Path) -> None:
    root = _fresh_project(tmp_path / "fresh")
    assert not (root / ".reprise" / "mlflow.db").exists()
    _concurrent_first_runs(cli, root)


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A new, uniquely named database on the local server; dropped (connections and all) at the end."""
    import psycopg

    name = f"reprise_hostile_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_eight_concurrent_first_runs_on_a_fresh_postgres_database(
    cli: Cli, tmp_path: Path, postgres_database: str
) -> None:
    root = _fresh_project(
        tmp_path / "fresh", f'tracking_uri = "{postgres_database}"\nstore_uri = "{postgres_database}"\n'
    )
    _concurrent_first_runs(cli, root)


def _previous_revision() -> str:
    from alembic.script import ScriptDirectory
    from mlflow.store.db import utils

    script = ScriptDirectory.from_config(utils._get_alembic_config(""))
    revision = script.get_revision(utils._get_latest_schema_revision())
    assert revision is not None and isinstance(revision.down_revision, str)
    return revision.down_revision


def _alembic(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]


def _tamper(database: Path, how: str) -> None:
    with sqlite3.connect(database) as conn:
        if how == "behind":
            conn.execute("UPDATE alembic_version SET version_num = ?", (_previous_revision(),))
        else:
            conn.execute("DROP TABLE alembic_version")


@pytest.mark.parametrize("how", ["behind", "missing"])
def test_a_half_migrated_empty_store_is_rebuilt_on_next_use(cli: Cli, tmp_project: Path, how: str) -> None:
    database = tmp_project / ".reprise" / "mlflow.db"
    head = _alembic(database)
    _tamper(database, how)
    start = time.monotonic()
    result = cli("registry", "list", cwd=tmp_project, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "rebuilt the half-migrated, empty tracking store" in result.stderr
    assert _alembic(database) == head
    assert list((tmp_project / ".reprise").glob("mlflow.db.broken-*"))  # the old file is kept, not deleted
    assert time.monotonic() - start < 120


def test_a_half_migrated_store_holding_runs_is_left_alone_with_one_clear_line(cli: Cli, tmp_project: Path) -> None:
    from mlflow import MlflowClient

    database = tmp_project / ".reprise" / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{database}")
    run_id = client.create_run("0").info.run_id
    _tamper(database, "behind")
    result = cli("registry", "list", cwd=tmp_project, timeout=120)
    line = _error_line(result, 1, "is half-migrated", str(database))
    assert "before-upgrade" in line
    copies = list((tmp_project / ".reprise").glob("mlflow.db.before-upgrade-*"))
    assert len(copies) == 1
    with sqlite3.connect(copies[0]) as conn:  # the copy holds the run as it was
        assert conn.execute("SELECT count(*) FROM runs WHERE run_uuid = ?", (run_id,)).fetchone() == (1,)


@pytest.mark.parametrize("size", ["few-bytes", "half"])
@pytest.mark.parametrize("store", ["mlflow.db", "reprise.db"])
def test_a_truncated_store_is_one_line_naming_the_file(cli: Cli, tmp_project: Path, store: str, size: str) -> None:
    from reprise.store.db import dispose_engines, open_store

    open_store(load_settings(tmp_project, environ={}))  # make reprise.db
    dispose_engines()
    database = tmp_project / ".reprise" / store
    length = database.stat().st_size
    with database.open("r+b") as file:
        file.truncate(10 if size == "few-bytes" else length // 2)
    command = ("registry", "list") if store == "mlflow.db" else ("data", "list")
    start = time.monotonic()
    result = cli(*command, cwd=tmp_project, timeout=60)
    _error_line(result, 1, str(database), "is damaged")
    assert "move it aside" in result.stderr
    assert time.monotonic() - start < 60


@pytest.mark.parametrize(
    ("variable", "command", "what"),
    [
        ("REPRISE_STORE_URI", ("data", "list"), "metadata store"),
        ("REPRISE_TRACKING_URI", ("registry", "list"), "tracking store"),
    ],
)
def test_an_unreachable_postgres_store_is_one_line_with_the_password_redacted(
    cli: Cli, tmp_project: Path, variable: str, command: tuple[str, ...], what: str
) -> None:
    start = time.monotonic()
    result = cli(*command, cwd=tmp_project, env={variable: "postgresql://postgres:s3cret@127.0.0.1:1/x"}, timeout=60)
    _error_line(result, 1, f"cannot open the {what} postgresql://postgres:***@127.0.0.1:1/x")
    assert "s3cret" not in result.stderr
    assert time.monotonic() - start < 30  # no retry loop, no 130 s connect wait


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket on 127.0.0.1 that accepts connections and never answers; closed at the end."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


def test_a_tracking_server_that_never_answers_is_one_line_within_seconds(
    cli: Cli, tmp_project: Path, silent_server: str
) -> None:
    start = time.monotonic()
    result = cli("registry", "list", cwd=tmp_project, env={"REPRISE_TRACKING_URI": silent_server}, timeout=60)
    _error_line(result, 1, f"the MLflow tracking server {silent_server} does not answer")
    assert time.monotonic() - start < 30  # was 200 s of silence


@pytest.mark.parametrize(
    ("value", "needle"),
    [("foo://bar", "tracking_uri 'foo://bar' is not a store MLflow can open"), ("", "key 'tracking_uri' is empty")],
)
def test_a_tracking_uri_mlflow_cannot_open_is_one_line_naming_the_setting(
    cli: Cli, tmp_project: Path, value: str, needle: str
) -> None:
    with (tmp_project / "reprise.toml").open("a", encoding="utf-8") as config:
        config.write(f'tracking_uri = "{value}"\n')
    result = cli("registry", "list", cwd=tmp_project, timeout=60)
    _error_line(result, 2, needle)
    assert "reprise.toml" in result.stderr
    assert not (tmp_project / "mlflow.db").exists()  # nothing made in the working directory


def test_init_into_a_missing_folder_makes_the_project_and_its_stores(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "new"
    result = cli("init", str(target), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "created the tracking store" in result.stderr
    assert "created the metadata store" in result.stderr
    assert (target / ".reprise" / "mlflow.db").is_file()
    assert (target / ".reprise" / "reprise.db").is_file()


def test_init_into_a_folder_that_cannot_be_made_is_one_line(cli: Cli, tmp_path: Path) -> None:
    # Tests run as root, whom permissions do not stop: a path under a regular file cannot be made by anyone.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    result = cli("init", str(blocker / "project"), cwd=tmp_path, timeout=60)
    _error_line(result, 2, "cannot create the project in", str(blocker / "project"))
    assert not (blocker.parent / "project").exists()


def test_init_into_an_unwritable_folder_is_one_line(cli: Cli, tmp_path: Path) -> None:
    # Root writes into any folder whatever its mode; the kernel's /sys refuses everyone a new folder.
    locked = Path("/sys") if os.geteuid() == 0 else tmp_path / "locked"
    if locked != Path("/sys"):
        locked.mkdir()
        locked.chmod(0o555)
    target = locked / f"reprise-project-{os.getpid()}"
    try:
        result = cli("init", str(target), cwd=tmp_path, timeout=60)
        _error_line(result, 2, "cannot create the project in", str(target))
        assert not target.exists()
    finally:
        if locked != Path("/sys"):
            locked.chmod(0o755)
