"""Inter-process locks: a lock file (processes of one machine) and a PostgreSQL advisory lock (every machine).

Both are held by the process for the length of a ``with`` block and released by the operating system or the
database when the process dies, so a killed writer never leaves a lock behind. Both wait at most ``timeout``
seconds and then raise :class:`TimeoutError`; the caller turns that into an error that names what it was doing.

Example:
    >>> with file_lock(settings.state_dir / "locks" / "registry.lock", timeout=30):  # doctest: +SKIP
    ...     ...  # read, decide, write: no other process of this machine is in here
    >>> with advisory_lock("postgresql://db/reprise", "registry-move:iris", timeout=30):  # doctest: +SKIP
    ...     ...  # no other process using that database is in here
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Final

from reprise.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy import Engine

__all__ = ["advisory_lock", "file_lock", "is_postgres", "lock_id"]

#: Longest sleep between two tries of a held lock file.
_MAX_POLL: Final = 0.1
_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def lock_id(key: str) -> int:
    """The signed 64-bit number PostgreSQL's advisory lock functions take, derived from ``key``.

    Example:
        >>> lock_id("registry-move:iris") == lock_id("registry-move:iris")
        True
    """
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def is_postgres(uri: str) -> bool:
    """Whether ``uri`` names a PostgreSQL database (``postgresql://``, ``postgresql+psycopg://``, ``postgres://``)."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    return scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the block.

    Each call opens the file anew, so two threads of one process exclude each other as two processes do.

    Args:
        path: The lock file; its folder is created if needed. The file is left in place (it is empty).
        timeout: Seconds to wait for another holder before giving up.

    Raises:
        TimeoutError: Another process held the lock for ``timeout`` seconds.
        OSError: The lock file cannot be created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.002
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"lock file {path} was held by another process for {timeout:g} s")
            time.sleep(delay)
            delay = min(delay * 2, _MAX_POLL)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def advisory_lock(uri: str, key: str, *, timeout: float) -> Iterator[None]:
    """Hold the PostgreSQL session advisory lock :func:`lock_id` of ``key`` in database ``uri`` for the block.

    The lock lives in a connection of its own, opened for the block and closed after it: if this process dies,
    PostgreSQL ends the session and the lock with it.

    Args:
        uri: A SQLAlchemy PostgreSQL URI (a plain ``postgresql://`` means psycopg 3).
        key: What is locked; processes using the same key and database exclude each other.
        timeout: Seconds to wait for another holder before giving up.

    Raises:
        TimeoutError: Another session held the lock for ``timeout`` seconds.
        ConfigError: The database cannot be reached.
        MissingExtraError: psycopg is not installed (``reprise[postgres]``).
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    engine = _engine(uri)
    number = lock_id(key)
    try:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    except DBAPIError as exc:
        raise ConfigError(f"cannot open {_redacted(engine)} to take a lock: {exc.orig}") from exc
    with conn:
        wait = f"{max(1, int(timeout * 1000))}ms"
        conn.execute(text("SELECT set_config('lock_timeout', :wait, false)"), {"wait": wait})
        try:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": number})
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available: lock_timeout ran out
                raise TimeoutError(f"advisory lock {number} was held by another session for {timeout:g} s") from exc
            raise ConfigError(f"cannot take a lock in {_redacted(engine)}: {exc.orig}") from exc
        try:
            yield
        finally:
            with contextlib.suppress(DBAPIError):  # closing the connection below releases it anyway
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": number})


def _engine(uri: str) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri.removeprefix("postgres://")
    with _ENGINES_LOCK:
        engine = _ENGINES.get(uri)
        if engine is not None:
            return engine
        try:
            url = make_url(uri)
        except ArgumentError as exc:
            raise ConfigError(f"{uri.split('://', 1)[0]}://... is not a database URI") from exc
        if url.get_driver_name() in ("psycopg", ""):
            try:
                import psycopg  # noqa: F401
            except ImportError as exc:
                raise MissingExtraError("psycopg", "postgres") from exc
        try:
            # No pool: a lock's connection is closed with the lock, so nothing can keep it by accident.
            engine = create_engine(url, poolclass=NullPool)
        except (NoSuchModuleError, ImportError) as exc:
            raise ConfigError(f"no database driver for {url.render_as_string(hide_password=True)}: {exc}") from exc
        _ENGINES[uri] = engine
        return engine


def _redacted(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


if sys.platform == "win32":  # pragma: no cover - Reprise is tested on Linux
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
