"""Engines and transactions: one engine per store URI per process, the schema brought to head on first use.

SQLite: WAL journal, a 30 s busy timeout and ``BEGIN IMMEDIATE`` for writes, so two processes writing at once wait
for each other instead of failing. PostgreSQL: unique constraints and an advisory lock around migrations.
Connection failures become :class:`reprise.errors.ConfigError` naming the (password-redacted) URI.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprise.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection, Engine

    from reprise.config import Settings

__all__ = ["dispose_engines", "open_store", "reading", "redacted", "writing"]

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()
_HINT = "check store_uri in reprise.toml (or REPRISE_STORE_URI)"


def open_store(settings: Settings | str) -> Engine:
    """The engine of the project's metadata store, migrated to the newest schema (once per process).

    Args:
        settings: Project settings (their ``store_uri``), or a SQLAlchemy URI.

    Returns:
        A SQLAlchemy engine; use it through :func:`reading` and :func:`writing`.

    Raises:
        ConfigError: The URI is malformed, the database cannot be reached, or its schema is newer than this Reprise.
        MissingExtraError: The URI needs a driver that is not installed (``reprise[postgres]``).
    """
    uri = settings if isinstance(settings, str) else settings.store_uri
    with _LOCK:
        engine = _ENGINES.get(uri)
        if engine is None:
            engine = _create(uri)
            from reprise.store.migrations import upgrade

            upgrade(engine)
            _ENGINES[uri] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection this process holds (before dropping a database, or after a fork)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction: ``BEGIN IMMEDIATE`` on SQLite (the write lock up front), plain on PostgreSQL.

    Args:
        engine: From :func:`open_store`.

    Yields:
        The connection; the transaction commits when the block ends and rolls back on an exception.

    Raises:
        ConfigError: The database cannot be reached.
    """
    with _connected(engine, write=True) as conn, conn.begin():
        yield conn


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read transaction (deferred on SQLite, so readers never wait for the write lock).

    Args:
        engine: From :func:`open_store`.

    Yields:
        The connection.

    Raises:
        ConfigError: The database cannot be reached.
    """
    with _connected(engine, write=False) as conn, conn.begin():
        yield conn


def redacted(uri: str) -> str:
    """``uri`` with any password replaced by ``***``.

    Args:
        uri: A SQLAlchemy URI.

    Returns:
        The URI, safe to print.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable store URI>"


@contextlib.contextmanager
def _connected(engine: Engine, *, write: bool) -> Iterator[Connection]:
    from sqlalchemy.exc import OperationalError

    try:
        conn = engine.connect()
    except OperationalError as exc:
        raise ConfigError(
            f"cannot open the metadata store {redacted(str(engine.url))}: {exc.orig}", hint=_HINT
        ) from exc
    with conn:
        yield conn.execution_options(reprise_write=write) if write else conn


def _create(uri: str) -> Engine:
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri.removeprefix("postgres://")
    try:
        url = make_url(uri)
    except ArgumentError as exc:
        raise ConfigError(f"store_uri {uri!r} is not a database URI", hint=_HINT) from exc
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("psycopg", ""):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingExtraError("psycopg", "postgres") from exc
    try:
        return create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"no database driver for {redacted(uri)}: {exc}", hint=_HINT) from exc


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot take the write lock up front: turn it off and
    # emit BEGIN in _sqlite_begin (the recipe in SQLAlchemy's SQLite dialect documentation).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("reprise_write") else "BEGIN")
