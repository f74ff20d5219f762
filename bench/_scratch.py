"""A scratch PostgreSQL database for a benchmark: made fresh, dropped at the end (None when no server answers)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import create_engine, text

from reprise.store import db


@contextlib.contextmanager
def scratch_postgres(server: str, name: str) -> Iterator[str | None]:
    """A fresh database ``name`` on ``server`` (``None`` when no server answers: say so and run SQLite only)."""
    try:
        admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure to reach the server: run SQLite only
        print(f"\nPostgreSQL not reachable at {db.redacted(server)} ({db.one_line(exc)}): SQLite only")
        yield None
        return
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        db.dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
