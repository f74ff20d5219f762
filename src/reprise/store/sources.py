"""Running a user's query on a user's database through SQLAlchemy: the SQL side of ``reprise data pull``.

This database is not the metadata store: it is where data comes from (PostgreSQL, SQLite, or any dialect whose
driver the user installs). The query runs in a read-only transaction where the backend has one (PostgreSQL), rows
are fetched in batches, and the connection is closed afterwards. A ``postgresql://`` URI uses psycopg (the
``postgres`` extra) unless psycopg2 is installed. Messages name the URI with its password hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import DataError, MissingExtraError
from reprise.store.db import one_line, redacted

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["QueryResult", "run_query"]

_BATCH: Final = 10_000
_CONNECT_TIMEOUT: Final = 10


@dataclass(frozen=True)
class QueryResult:
    """The columns a query returned and its rows, as lists of Python values per column."""

    names: tuple[str, ...]
    columns: tuple[list[Any], ...]

    @property
    def rows(self) -> int:
        """Number of rows."""
        return len(self.columns[0]) if self.columns else 0


def run_query(uri: str, query: str) -> QueryResult:
    """Run ``query`` on the database at ``uri`` and return every row.

    Args:
        uri: A SQLAlchemy URI (``postgresql://user@host/db``, ``sqlite:///path.db``...).
        query: One SQL statement that returns rows.

    Returns:
        The columns and rows.

    Raises:
        DataError: The URI is malformed, the driver is missing, the database cannot be reached, or the query failed.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    engine = _engine(uri)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            result = conn.execution_options(stream_results=True).execute(text(query))
            if not result.returns_rows:
                raise DataError(
                    f"the query on {redacted(uri)} returns no rows (not a SELECT?)",
                    hint='reprise data pull URI "SELECT ... FROM ..." --to data/x.parquet --name NAME',
                )
            keys = result.keys()
            names = tuple(str(name) for name in keys)
            columns: tuple[list[Any], ...] = tuple([] for _ in names)
            for batch in _batches(result):
                for index, column in enumerate(columns):
                    column.extend(row[index] for row in batch)
    except SQLAlchemyError as exc:
        raise DataError(
            f"the query on {redacted(uri)} failed: {one_line(exc)}",
            hint="check the query and that the database is reachable (psql / sqlite3 with the same URI)",
        ) from exc
    finally:
        engine.dispose()
    return QueryResult(names=names, columns=columns)


def _batches(result: Any) -> Iterator[list[Any]]:
    while batch := result.fetchmany(_BATCH):
        yield batch


def _engine(uri: str) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    try:
        url = make_url("postgresql://" + uri.removeprefix("postgres://") if uri.startswith("postgres://") else uri)
    except ArgumentError as exc:
        raise DataError(f"{uri!r} is not a database URI", hint="e.g. postgresql://user@host:5432/db") from exc
    args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        if url.get_driver_name() in ("", "psycopg2") and not _has("psycopg2"):
            url = url.set(drivername="postgresql+psycopg")
        if url.get_driver_name() == "psycopg" and not _has("psycopg"):
            raise MissingExtraError("psycopg", "postgres")
        args["connect_timeout"] = _CONNECT_TIMEOUT
    try:
        return create_engine(url, poolclass=NullPool, connect_args=args)
    except (NoSuchModuleError, ImportError) as exc:
        raise DataError(
            f"no database driver for {redacted(uri)}: {one_line(exc)}", hint="install the dialect's driver"
        ) from exc


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
