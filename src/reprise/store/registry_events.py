"""Rows of ``reprise_registry_events``: the registry's history (registrations, gates, alias moves, exports).

Plain values in and out (:class:`EventRow`); :mod:`reprise.registry.history` turns them into ``RegistryEvent``
records. A registration also records its lineage edge (``run -> model``) in the same transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from reprise.store._rows import row_values
from reprise.store.db import reading, writing
from reprise.store.lineage import link_in
from reprise.store.markers import mark_in

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from sqlalchemy import Engine

    from reprise.store.lineage import Edge

__all__ = ["EventRow", "delete_events", "insert_events", "list_events"]


@dataclass(frozen=True)
class EventRow:
    """One registry event as stored (see :mod:`reprise.store.migrations.m0002_lineage` for the columns)."""

    event_id: str
    kind: str
    model: str
    version: int | None
    alias: str | None
    from_version: int | None
    to_version: int | None
    user: str
    host: str
    at: datetime
    seq: int
    details: dict[str, Any]


def insert_events(
    engine: Engine, rows: Sequence[EventRow], *, edges: Iterable[Edge] = (), marker: tuple[str, str] | None = None
) -> None:
    """Append ``rows`` and their lineage ``edges`` in one transaction (an event already stored is kept as it was).

    Args:
        engine: From :func:`reprise.store.db.open_store`.
        rows: The events.
        edges: Relations the events create (a registration: ``run:<id> -> model:<name>/<version>``).
        marker: ``(name, detail)`` of a one-time step this write completes (an import), marked in the same transaction.
    """
    from reprise.store._upsert import insert_if_absent
    from reprise.store.tables import registry_events

    with writing(engine) as conn:
        for row in rows:
            insert_if_absent(conn, registry_events, asdict(row), ["event_id"])
        link_in(conn, edges)
        if marker is not None:
            mark_in(conn, *marker)


def delete_events(engine: Engine, event_ids: Iterable[str]) -> None:
    """Remove the events ``event_ids`` (the registry change they recorded was not made after all)."""
    from sqlalchemy import delete

    from reprise.store.tables import registry_events

    ids = list(event_ids)
    if ids:
        with writing(engine) as conn:
            conn.execute(delete(registry_events).where(registry_events.c.event_id.in_(ids)))


def list_events(engine: Engine, model: str, alias: str | None = None) -> list[EventRow]:
    """Every event of ``model`` (of ``alias`` only, when given), oldest first (by time, then sequence, then id)."""
    from sqlalchemy import select

    from reprise.store.tables import registry_events

    table = registry_events
    query = select(table).where(table.c.model == model).order_by(table.c.at, table.c.seq, table.c.event_id)
    if alias is not None:
        query = query.where(table.c.alias == alias)
    with reading(engine) as conn:
        found = conn.execute(query).mappings().all()
    return [EventRow(**row_values(values, EventRow.__dataclass_fields__)) for values in found]
