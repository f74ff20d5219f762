"""Twenty writers move one alias at once: the history read back must be the alias's exact story.

Real processes on a real MLflow store (SQLite, and PostgreSQL when one is reachable): two library processes with
nine threads each (half ``set_model_alias``, half ``promote_model``) released together by a start file, and two
``reprise registry alias``/``promote`` CLI processes (on PostgreSQL: ten threads each and no CLI, to save ~10 s of
process start-up; the CLI calls the same functions). Every writer targets a version of its own, so every move is a
change and must leave exactly one event; the events must chain (each ``from_version`` is the previous
``to_version``) and end at the version the registry says holds the alias.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MODEL = "contested"
ALIAS = "production"
MOVES = 20
PROCESSES = 2
INITIAL = MOVES + 1  # the version holding the alias before the race

# One library writer: waits for the start file, then its threads move the alias at once.
_WRITER = """
import json, sys, threading, time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
import reprise
from reprise.config import load_settings

root, go, versions = Path(sys.argv[1]), Path(sys.argv[2]), [int(v) for v in sys.argv[3].split(",")]
settings = load_settings(root)
import reprise.registry.lifecycle  # import everything before the start
from reprise.registry.catalog import list_models
list_models(settings=settings)  # open the store before the start
barrier = threading.Barrier(len(versions))
deadline = time.monotonic() + 120
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("no start file")
    time.sleep(0.005)

def move(version):
    barrier.wait(timeout=60)
    if version % 2:
        made = reprise.set_model_alias("%(model)s", "%(alias)s", version, settings=settings)
    else:
        [made] = reprise.promote_model("%(model)s", version, "Production", settings=settings).moves
    return [made.from_version, made.to_version]

with ThreadPoolExecutor(len(versions)) as pool:
    print(json.dumps(list(pool.map(move, versions))))
""".replace("%(model)s", MODEL).replace("%(alias)s", ALIAS)


@pytest.fixture
def sqlite_store(tmp_path: Path, mlflow_db_template: Path) -> Iterator[dict[str, str]]:
    import shutil

    (tmp_path / ".reprise").mkdir()
    shutil.copyfile(mlflow_db_template, tmp_path / ".reprise" / "mlflow.db")
    yield {}


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[dict[str, str]]:
    """A fresh, uniquely named PostgreSQL database as MLflow's tracking store; dropped at teardown."""
    import psycopg

    name = f"reprise_hostile_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    uri = postgres_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    try:
        yield {"REPRISE_TRACKING_URI": uri}
    finally:
        from reprise.tracking import _client

        _client._client.cache_clear()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _race(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *, cli_moves: int) -> None:
    import reprise
    from reprise.config import load_settings
    from reprise.registry.history import read_history
    from reprise.tracking._client import client_for

    root = tmp_path
    (root / "reprise.toml").write_text("")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(root)
    client = client_for(settings)
    client.create_registered_model(MODEL)
    (root / "files").mkdir()
    for _ in range(INITIAL):
        client.create_model_version(MODEL, (root / "files").as_uri())
    reprise.set_model_alias(MODEL, ALIAS, INITIAL, settings=settings)

    targets = list(range(1, MOVES + 1))
    threads = (MOVES - cli_moves) // PROCESSES
    go = root / "go"
    child_env = {**os.environ, **env}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(root), str(go), ",".join(map(str, targets[i::PROCESSES][:threads]))],
            cwd=root,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    library_targets = {v for i in range(PROCESSES) for v in targets[i::PROCESSES][:threads]}
    cli_targets = sorted(set(targets) - library_targets)
    assert len(cli_targets) == cli_moves
    time.sleep(0.5)
    go.touch()
    commands = [
        ["registry", "alias", MODEL, ALIAS, str(v)] if v % 2 else ["registry", "promote", MODEL, str(v), "Production"]
        for v in cli_targets
    ]
    cli_runs = [
        subprocess.Popen(
            [sys.executable, "-m", "reprise", *args, "--json"],
            cwd=root,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    reported: list[tuple[int | None, int]] = []
    try:
        for writer in writers:
            out, err = writer.communicate(timeout=180)
            assert writer.returncode == 0, err
            reported.extend((before, after) for before, after in json.loads(out))
        for run in cli_runs:
            out, err = run.communicate(timeout=180)
            assert run.returncode == 0, err
            answer: Any = json.loads(out)
            made = answer["moves"][0] if "moves" in answer else answer
            reported.append((made["from_version"], made["to_version"]))
    finally:
        for process in (*writers, *cli_runs):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    events = read_history(MODEL, alias=ALIAS, settings=settings)
    chain = [(event.from_version, event.to_version) for event in events]
    assert len(events) == MOVES + 1, chain
    assert chain[0] == (None, INITIAL)
    for previous, event in itertools.pairwise(events):
        assert event.from_version == previous.to_version, chain
    assert sorted(to for _, to in chain) == list(range(1, INITIAL + 1))
    holder = {str(k): int(v) for k, v in (client.get_registered_model(MODEL).aliases or {}).items()}[ALIAS]
    assert events[-1].to_version == holder
    # What each writer was told happened is what the history says happened.
    assert sorted(reported, key=lambda pair: pair[1]) == sorted(chain[1:], key=lambda pair: pair[1])
    assert [event.at for event in events] == sorted({event.at for event in events})


def test_twenty_concurrent_moves_leave_an_unbroken_history_on_sqlite(
    tmp_path: Path, sqlite_store: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _race(tmp_path, sqlite_store, monkeypatch, cli_moves=2)


@pytest.mark.postgres
def test_twenty_concurrent_moves_leave_an_unbroken_history_on_postgres(
    tmp_path: Path, postgres_store: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _race(tmp_path, postgres_store, monkeypatch, cli_moves=0)  # the CLI's way in is the same on every store
