"""Fixtures shared by the integration tests: a fresh metadata store on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from reprise.store import db

StoreUrl = Callable[[], str]


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
