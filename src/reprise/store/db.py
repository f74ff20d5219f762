"""Engines and transactions: one engine per store URI per process, the schema brought to head on first use.

SQLite: WAL journal, a 30 s busy timeout and ``BEGIN IMMEDIATE`` for writes, so two processes writing at once wait
for each other instead of failing; the first open in a process checks the file (a truncated or foreign file is a
one-line error, not a traceback) and migrates under an inter-process file lock (``<db>.lock``, ``fcntl.flock``).
PostgreSQL: a 10 s connect timeout (unless the URI sets ``connect_timeout``), unique constraints and an advisory lock
around migrations. Failures to reach or read a store become :class:`reprise.errors.StoreError` naming the
(password-redacted) URI.

The same locking and inspection serve MLflow's tracking database (:mod:`reprise.tracking._client` creates and
repairs it): :func:`database_lock`, :func:`describe_database` and :func:`check_sqlite_file` take the error class
and hint to raise with, since SQLAlchemy is used only here.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import ConfigError, MissingExtraError, RepriseError, StoreError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TypeAlias

    from sqlalchemy import Connection, Engine

    from reprise.config import Settings

    #: A store's engine, as modules outside ``store/`` name its type (they may not import SQLAlchemy).
    Store: TypeAlias = Engine

__all__ = [
    "CONNECT_TIMEOUT",
    "DatabaseState",
    "check_sqlite_file",
    "create_schema",
    "database_lock",
    "describe_database",
    "dispose_engines",
    "one_line",
    "open_store",
    "prepare_store",
    "reading",
    "redacted",
    "sqlite_path",
    "writing",
]

#: Seconds to wait for a PostgreSQL server to accept a connection (libpq's ``connect_timeout``).
CONNECT_TIMEOUT: Final = 10
#: Seconds to wait for another process that is creating or migrating the same store.
LOCK_WAIT: Final = 300

_ENGINES: dict[str, Engine] = {}
_APPLIED: dict[str, list[int]] = {}
_LOCK = threading.Lock()
_HINT = "check store_uri in reprise.toml (or REPRISE_STORE_URI)"
_WHAT = "metadata store"
_SQLITE_MAGIC = b"SQLite format 3\x00"


def open_store(settings: Settings | str) -> Engine:
    """The engine of the project's metadata store, migrated to the newest schema (once per process).

    Args:
        settings: Project settings (their ``store_uri``), or a SQLAlchemy URI.

    Returns:
        A SQLAlchemy engine; use it through :func:`reading` and :func:`writing`.

    Raises:
        ConfigError: The URI is malformed, or the store's schema is newer than this Reprise.
        StoreError: The database cannot be reached, read or created, or its file is damaged.
        MissingExtraError: The URI needs a driver that is not installed (``reprise[postgres]``).
    """
    uri = settings if isinstance(settings, str) else settings.store_uri
    with _LOCK:
        engine = _ENGINES.get(uri)
        if engine is None:
            from reprise.store.migrations import upgrade

            engine = _create(uri)
            path = sqlite_path(uri)
            if path is not None:
                check_sqlite_file(path)
            # PostgreSQL: upgrade() takes a transaction-level advisory lock itself.
            lock = database_lock(uri, "reprise-store") if path is not None else contextlib.nullcontext()
            try:
                with lock, _translated(uri):
                    _APPLIED[uri] = upgrade(engine)
            except RepriseError:
                engine.dispose()
                raise
            _ENGINES[uri] = engine
        return engine


def prepare_store(settings: Settings) -> list[str]:
    """Create or migrate the project's metadata store now (``reprise init``), rather than on first use.

    Args:
        settings: Project settings (their ``store_uri``).

    Returns:
        What was done, one line (empty when this process had opened the store already or it was at head).

    Raises:
        ConfigError: The URI is malformed, or the store's schema is newer than this Reprise.
        StoreError: The database cannot be reached, read or created, or its file is damaged.
    """
    open_store(settings)
    applied = _APPLIED.pop(settings.store_uri, [])
    if not applied:
        return []
    return [f"created the metadata store {redacted(settings.store_uri)} (schema version {applied[-1]})"]


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
        StoreError: The database cannot be reached.
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
        StoreError: The database cannot be reached.
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


def one_line(exc: BaseException) -> str:
    """The reason of a database error in one short line: the driver's own message, without SQL or links.

    Args:
        exc: Any exception (a SQLAlchemy one is unwrapped to the driver's error).

    Returns:
        At most 300 characters, whitespace collapsed.
    """
    reason = getattr(exc, "orig", None) or exc
    text = " ".join(str(reason).split()) or type(reason).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for other backends and in-memory databases).

    Args:
        uri: A SQLAlchemy URI.

    Returns:
        The file's path.
    """
    match = re.match(r"sqlite(\+\w+)?:///(?P<path>[^?]+)", uri)
    if match is None or match["path"] in ("", ":memory:"):
        return None
    return Path(match["path"])


def check_sqlite_file(
    path: Path, *, what: str = _WHAT, error: type[RepriseError] = StoreError, hint: str | None = None
) -> None:
    """Refuse a database file that is not SQLite or is shorter than its own header says (truncated).

    Cheap (reads 100 bytes): run before handing the file to SQLite, which otherwise fails deep inside a query.
    A missing or empty file is fine: SQLite makes a new database there.

    Args:
        path: The database file.
        what: What the file is, for the message ("metadata store", "tracking store").
        error: The error class to raise.
        hint: The hint to raise with (default: move the file aside).

    Raises:
        RepriseError: Of class ``error``, naming the file and what is wrong with it.
    """
    try:
        size = path.stat().st_size
        if size == 0:
            return
        with path.open("rb") as file:
            header = file.read(100)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {exc.strerror}", hint=f"check the permissions of {path}") from exc
    problem = None
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        problem = f"not a SQLite database ({size} bytes)"
    else:
        page_size = int.from_bytes(header[16:18], "big")
        pages = int.from_bytes(header[28:32], "big")
        # The page count in the header is valid when the change counter matches "version valid for" (SQLite docs).
        # A hot journal or a WAL may still hold pages SQLite will restore: then leave the judgement to SQLite.
        pending = any(path.with_name(path.name + suffix).exists() for suffix in ("-journal", "-wal"))
        valid = header[24:28] == header[92:96] and pages and not pending
        if valid and size < (65536 if page_size == 1 else page_size) * pages:
            expected = (65536 if page_size == 1 else page_size) * pages
            problem = f"truncated: {size} bytes where its header says {expected}"
    if problem is not None:
        raise error(
            f"the {what} {path} is damaged ({problem})",
            hint=hint or f"restore it from a backup, or move it aside (mv {path} {path}.broken) to start an empty one",
        )


@dataclass(frozen=True)
class DatabaseState:
    """What a database holds, as far as creating or repairing its schema needs to know.

    Attributes:
        tables: Names of its tables.
        alembic_revisions: The revisions in ``alembic_version`` (empty when the table is missing or empty).
        rows: Row counts of the tables asked for that exist.
    """

    tables: frozenset[str]
    alembic_revisions: tuple[str, ...] = ()
    rows: dict[str, int] = field(default_factory=dict)


def describe_database(
    uri: str,
    *,
    count: tuple[str, ...] = (),
    what: str = _WHAT,
    error: type[RepriseError] = StoreError,
    hint: str = _HINT,
) -> DatabaseState:
    """Tables, Alembic revision and some row counts of the database at ``uri``, on a short-lived connection.

    Args:
        uri: A SQLAlchemy URI.
        count: Tables whose rows to count (those that exist).
        what: What the database is, for messages.
        error: The error class to raise.
        hint: The hint to raise with.

    Returns:
        The state.

    Raises:
        RepriseError: Of class ``error``: the database cannot be reached or read.
    """
    from sqlalchemy import inspect, text

    engine = _plain_engine(uri, what=what, error=error, hint=hint)
    try:
        with _translated(uri, what=what, error=error, hint=hint), engine.connect() as conn:
            tables = frozenset(inspect(conn).get_table_names())
            revisions: tuple[str, ...] = ()
            if "alembic_version" in tables:
                revisions = tuple(
                    str(r) for r in conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                )
            rows = {
                name: int(conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())  # noqa: S608 - known names
                for name in count
                if name in tables
            }
            return DatabaseState(tables=tables, alembic_revisions=revisions, rows=rows)
    finally:
        engine.dispose()


def create_schema(uri: str, schema: str) -> None:
    """Create the PostgreSQL schema ``schema`` in the database at ``uri`` unless it exists.

    Why: another system's tables (Optuna's study storage for constrained AutoML) live in the team's database beside
    MLflow's and the store's, in a schema of their own, so their ``alembic_version`` tables do not meet.

    Raises:
        StoreError: The database cannot be reached or refused the statement.
    """
    from sqlalchemy import text

    engine = _plain_engine(uri, what=_WHAT, error=StoreError, hint=_HINT)
    try:
        with _translated(uri), engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        engine.dispose()


@contextlib.contextmanager
def database_lock(
    uri: str,
    name: str,
    *,
    what: str = _WHAT,
    error: type[RepriseError] = StoreError,
    hint: str = _HINT,
    wait: float = LOCK_WAIT,
) -> Iterator[None]:
    """Hold an inter-process lock for creating or migrating the database at ``uri``.

    SQLite: ``fcntl.flock`` on ``<database file>.lock`` (in ``.reprise/`` for the embedded stores). PostgreSQL: a
    session-level advisory lock keyed by ``name``, on a connection of its own. Other backends (and in-memory SQLite)
    get no lock. The wait is bounded; the lock goes with the process if it dies.

    Args:
        uri: A SQLAlchemy URI.
        name: What is being locked ("mlflow-tracking", "reprise-store"): one lock per name per database.
        what: What the database is, for messages.
        error: The error class to raise.
        hint: The hint to raise with when the database cannot be reached.
        wait: Seconds to wait for another holder.

    Yields:
        Nothing; the lock is held inside the block.

    Raises:
        RepriseError: Of class ``error``: the lock file cannot be made, the database cannot be reached, or another
            process held the lock longer than ``wait``.
    """
    path = sqlite_path(uri)
    if path is not None:
        with _file_lock(path, what=what, error=error, wait=wait):
            yield
    elif uri.startswith(("postgresql", "postgres:")):
        with _advisory_lock(uri, name, what=what, error=error, hint=hint, wait=wait):
            yield
    else:
        yield


@contextlib.contextmanager
def _file_lock(path: Path, *, what: str, error: type[RepriseError], wait: float) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX (Windows): no inter-process lock, as MLflow itself does there
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a+b")
    except OSError as exc:
        if path.is_file():
            # A database in a folder this process cannot write (an archived project): nobody can migrate it from
            # here, so there is nothing to lock; reading it needs no lock.
            yield
            return
        raise error(
            f"cannot create the {what} in {path.parent}: {exc.strerror}",
            hint=f"make {path.parent} a writable folder, or point the store elsewhere in reprise.toml",
        ) from exc
    with handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise error(
                        f"another process has held {lock_path} for over {wait:.0f} s while creating or migrating "
                        f"the {what}",
                        hint="wait for it to finish (or stop it), then run again",
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _advisory_lock(
    uri: str, name: str, *, what: str, error: type[RepriseError], hint: str, wait: float
) -> Iterator[None]:
    from sqlalchemy import text

    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF
    engine = _plain_engine(uri, what=what, error=error, hint=hint)
    try:
        with _translated(uri, what=what, error=error, hint=hint):
            conn = engine.connect()
        with conn:
            deadline = time.monotonic() + wait
            while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one():
                conn.rollback()
                if time.monotonic() > deadline:
                    raise error(
                        f"another session has held the {name} lock on {redacted(uri)} for over {wait:.0f} s "
                        f"while creating or migrating the {what}",
                        hint="wait for it to finish (or stop it), then run again",
                    )
                time.sleep(0.1)
            conn.commit()
            try:
                yield
            finally:
                with contextlib.suppress(Exception):  # the session's end releases it anyway
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()
    finally:
        engine.dispose()


def _plain_engine(uri: str, *, what: str, error: type[RepriseError], hint: str) -> Engine:
    """An engine without pooling or pragmas, for a few statements on a database Reprise may not own (MLflow's)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    try:
        url = make_url(_normalised(uri))
        return create_engine(url, poolclass=NullPool, connect_args=_connect_args(url))
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise error(f"cannot open the {what} {redacted(uri)}: {one_line(exc)}", hint=hint) from exc


def _connect_args(url: Any) -> dict[str, Any]:
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        return {"connect_timeout": CONNECT_TIMEOUT}
    return {}


def _normalised(uri: str) -> str:
    return "postgresql://" + uri.removeprefix("postgres://") if uri.startswith("postgres://") else uri


@contextlib.contextmanager
def _translated(
    uri: str, *, what: str = _WHAT, error: type[RepriseError] = StoreError, hint: str = _HINT
) -> Iterator[None]:
    """Database errors (unreachable, unreadable, refused) as one-line ``error`` naming the redacted URI."""
    from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        path = sqlite_path(uri)
        if path is not None and isinstance(exc, DatabaseError) and not isinstance(exc, OperationalError):
            # "file is not a database", "database disk image is malformed": the file, not the setting, is wrong.
            raise error(
                f"the {what} {path} is damaged ({one_line(exc)})",
                hint=f"restore it from a backup, or move it aside (mv {path} {path}.broken) to start an empty one",
            ) from exc
        raise error(f"cannot open the {what} {redacted(uri)}: {one_line(exc)}", hint=hint) from exc


@contextlib.contextmanager
def _connected(engine: Engine, *, write: bool) -> Iterator[Connection]:
    from sqlalchemy.exc import OperationalError

    try:
        conn = engine.connect()
    except OperationalError as exc:
        raise StoreError(
            f"cannot open the metadata store {redacted(str(engine.url))}: {one_line(exc)}", hint=_HINT
        ) from exc
    with conn:
        yield conn.execution_options(reprise_write=write) if write else conn


def _create(uri: str) -> Engine:
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    uri = _normalised(uri)
    try:
        url = make_url(uri)
    except ArgumentError as exc:
        raise ConfigError(f"store_uri {uri!r} is not a database URI", hint=_HINT) from exc
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            folder = Path(url.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the metadata store in {folder}: {exc.strerror}",
                    hint=f"make {folder} a writable folder, or set store_uri in reprise.toml",
                ) from exc
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
        return create_engine(url, pool_pre_ping=True, connect_args=_connect_args(url))
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
