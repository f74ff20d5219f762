"""Insert a row unless its key is already there, on SQLite and PostgreSQL alike (``ON CONFLICT DO NOTHING``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Table

__all__ = ["insert_if_absent"]


def insert_if_absent(conn: Connection, table: Table, values: dict[str, object], keys: Sequence[str]) -> None:
    """Insert ``values`` into ``table``; a row with the same ``keys`` already there is left as it was.

    Args:
        conn: A connection inside a write transaction.
        table: The table.
        values: The row.
        keys: The columns of the unique key the conflict is on.
    """
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys)))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys)))
