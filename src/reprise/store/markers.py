"""One-time markers: a named step (e.g. an import of facts kept elsewhere by an older Reprise) done once per store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from reprise.store.db import reading

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = ["mark_in", "marked"]


def marked(engine: Engine, name: str) -> bool:
    """Whether the step ``name`` was done in this store."""
    from sqlalchemy import select

    from reprise.store.tables import markers

    with reading(engine) as conn:
        return conn.execute(select(markers.c.name).where(markers.c.name == name)).first() is not None


def mark_in(conn: Connection, name: str, detail: str) -> None:
    """Record the step ``name`` as done, inside the transaction that did it (a second mark is a no-op)."""
    from reprise.store._upsert import insert_if_absent
    from reprise.store.tables import markers

    insert_if_absent(conn, markers, {"name": name, "detail": detail, "done_at": datetime.now(UTC)}, ["name"])
