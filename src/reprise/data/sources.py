"""Connectors: where a pulled table comes from, behind one small interface.

A :class:`Source` reads a table (as a pyarrow Table) and describes itself as a JSON ``spec`` that a data version
keeps (secrets removed), so ``reprise data pull --refresh`` can build the same source again and re-read it. One
connector ships: ``sql`` (:class:`SqlSource`, any SQLAlchemy URI; the query runs in :mod:`reprise.store.sources`).
Another (an HTTP export, a log-search API) is a class with ``spec()`` and ``read()`` and a factory passed to
:func:`register_source`; nothing else changes.

Example:
    >>> source = SqlSource("postgresql://analyst@db/sales", "SELECT * FROM orders")   # doctest: +SKIP
    >>> source.read().num_rows                                                         # doctest: +SKIP
    1200
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
    from pydantic import JsonValue

__all__ = ["Source", "SqlSource", "register_source", "source_from_spec"]


class Source(Protocol):
    """Something a table can be pulled from."""

    def spec(self) -> dict[str, JsonValue]:
        """What rebuilds this source: ``{"kind": ..., ...}``, with no secret in it (it is stored)."""
        ...

    def read(self) -> pa.Table:
        """Read the table now."""
        ...


#: ``kind`` -> a factory building a source from a stored spec and what the spec left out (the URI's password).
_FACTORIES: dict[str, Callable[[Mapping[str, Any], str | None], Source]] = {}


def register_source(kind: str, factory: Callable[[Mapping[str, Any], str | None], Source]) -> None:
    """Make ``kind`` specs rebuildable (for ``--refresh``).

    Args:
        kind: The ``kind`` field of the spec.
        factory: ``factory(spec, secret) -> Source``; ``secret`` is the override the user gave (``--uri``), or None.
    """
    _FACTORIES[kind] = factory


def source_from_spec(spec: Mapping[str, Any], secret: str | None = None) -> Source:
    """Rebuild the source a data version was pulled from.

    Args:
        spec: The stored spec.
        secret: What the spec could not keep (the full URI when its password was hidden).

    Returns:
        The source.

    Raises:
        DataError: No connector knows the spec's kind.
    """
    factory = _FACTORIES.get(str(spec.get("kind")))
    if factory is None:
        raise DataError(
            f"no connector for source kind {spec.get('kind')!r}",
            hint=f"known kinds: {', '.join(sorted(_FACTORIES))}",
        )
    return factory(spec, secret)


class SqlSource:
    """A SQL query on a database reached by a SQLAlchemy URI.

    Args:
        uri: The database (``postgresql://user@host/db``, ``sqlite:///file.db``...).
        query: One statement that returns rows.
    """

    def __init__(self, uri: str, query: str) -> None:
        self.uri = uri
        self.query = query

    def spec(self) -> dict[str, JsonValue]:
        """``{"kind": "sql", "uri": <password hidden>, "query": ...}``."""
        from reprise.store.db import redacted

        return {"kind": "sql", "uri": redacted(self.uri), "query": self.query}

    def read(self) -> pa.Table:
        """Run the query and return its rows as a table (column types from the values, as pyarrow infers them).

        Raises:
            DataError: The query failed, or a column holds values of mixed types.
        """
        import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]

        from reprise.store.sources import run_query

        result = run_query(self.uri, self.query)
        try:
            return pa.table(dict(zip(result.names, result.columns, strict=True)))
        except (pa.ArrowException, ValueError) as exc:
            raise DataError(
                f"the rows of the query cannot be made into a table: {str(exc).splitlines()[0][:200]}",
                hint="cast mixed-type columns in the query (e.g. CAST(x AS TEXT)), and name every column once",
            ) from exc


def _sql(spec: Mapping[str, Any], secret: str | None) -> Source:
    from reprise.store.db import redacted

    stored = str(spec.get("uri", ""))
    uri = secret or stored
    if secret is not None and redacted(secret) != stored:
        raise DataError(
            f"--uri {redacted(secret)} is not the database this version was pulled from ({stored})",
            hint="give the same URI (with its password), or pull a new version from the other database",
        )
    if "***" in uri:
        raise DataError(
            f"the stored URI {stored} hides its password", hint="give the full URI again: --uri 'postgresql://...'"
        )
    return SqlSource(uri, str(spec.get("query", "")))


register_source("sql", _sql)
