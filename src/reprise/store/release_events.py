"""Rows of ``reprise_release_events``: each release name's history as an append-only hash chain.

Event ``n`` of a name stores ``prev_hash`` (event ``n - 1``'s hash, or :data:`GENESIS`) and ``hash``, the sha256
of its own canonical content with ``prev_hash`` in it; ``reprise_release_heads`` holds the last position and hash.
So an edited event no longer matches its hash, a deleted one leaves a gap or a broken link, and a deleted tail
disagrees with the head: :func:`chain_problems` names each. Appending takes the next position by a conditional update
of the head (``WHERE position = <read>``): of two writers, the second finds the head moved and starts again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from reprise._canonical import digest
from reprise.store._rows import row_values
from reprise.store.db import reading

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = [
    "GENESIS",
    "ReleaseEventRow",
    "StaleHeadError",
    "append_event_in",
    "chain_problems",
    "event_hash",
    "list_release_events",
]

#: The ``prev_hash`` of a chain's first event.
GENESIS: Final = "sha256:" + "0" * 64


class StaleHeadError(Exception):
    """Another writer appended to the chain since its head was read (internal: the caller starts again)."""


@dataclass(frozen=True)
class ReleaseEventRow:
    """One release event as stored (``position``, ``prev_hash`` and ``hash`` are set by :func:`append_event_in`)."""

    event_id: str
    name: str
    version: str
    kind: str
    environment: str | None
    from_version: str | None
    to_version: str | None
    actor: str
    at: datetime
    reason: str
    forced: bool
    details: dict[str, Any]
    position: int = 0
    prev_hash: str = ""
    hash: str = ""


def event_hash(row: ReleaseEventRow) -> str:
    """The hash of ``row``: its canonical content, ``prev_hash`` included and ``hash`` left out."""
    content = dataclasses.asdict(row)
    content.pop("hash")
    content["at"] = row.at.astimezone(UTC).isoformat(timespec="microseconds")
    return digest(content)


def append_event_in(conn: Connection, draft: ReleaseEventRow) -> ReleaseEventRow:
    """Append ``draft`` to its name's chain inside the caller's write transaction.

    Returns:
        The event as stored (position and hashes set).

    Raises:
        StaleHeadError: Another writer appended meanwhile; roll back and start again.
    """
    from sqlalchemy import insert, select, update

    from reprise.store._upsert import insert_if_absent
    from reprise.store.tables import release_events, release_heads

    insert_if_absent(conn, release_heads, {"name": draft.name, "position": 0, "hash": GENESIS}, ["name"])
    position, prev = conn.execute(
        select(release_heads.c.position, release_heads.c.hash).where(release_heads.c.name == draft.name)
    ).one()
    row = dataclasses.replace(draft, position=int(position) + 1, prev_hash=str(prev))
    row = dataclasses.replace(row, hash=event_hash(row))
    moved = conn.execute(
        update(release_heads)
        .where(release_heads.c.name == draft.name, release_heads.c.position == position)
        .values(position=row.position, hash=row.hash)
    )
    if moved.rowcount != 1:
        raise StaleHeadError(draft.name)
    conn.execute(insert(release_events).values(**dataclasses.asdict(row)))
    return row


def list_release_events(
    engine: Engine, name: str, *, environment: str | None = None, until: datetime | None = None
) -> list[ReleaseEventRow]:
    """The events of ``name`` in chain order; of one ``environment`` only, and up to ``until``, when given."""
    from sqlalchemy import select

    from reprise.store.tables import release_events

    table = release_events
    query = select(table).where(table.c.name == name).order_by(table.c.position)
    if environment is not None:
        query = query.where(table.c.environment == environment)
    if until is not None:
        query = query.where(table.c.at <= until)
    with reading(engine) as conn:
        found = conn.execute(query).mappings().all()
    return [ReleaseEventRow(**row_values(values, ReleaseEventRow.__dataclass_fields__)) for values in found]


def chain_problems(engine: Engine, name: str) -> list[str]:
    """Every break in the chain of ``name``, one line each (empty: the history is as it was written).

    Args:
        engine: A store engine.
        name: The release name.

    Returns:
        What is wrong, in chain order: an event whose content no longer matches its hash, a missing position, a
        link to a hash that is not the previous event's, or a head that does not match the last event.
    """
    from sqlalchemy import select

    from reprise.store.tables import release_heads

    problems: list[str] = []
    expected_prev, expected_position = GENESIS, 1
    for row in list_release_events(engine, name):
        if row.position != expected_position:
            problems.append(f"events {expected_position}..{row.position - 1} of {name} are missing (deleted)")
        elif row.prev_hash != expected_prev:
            problems.append(f"event {row.position} of {name} does not follow event {row.position - 1} (relinked)")
        if event_hash(row) != row.hash:
            problems.append(f"event {row.position} of {name} ({row.kind} {row.version}) was edited after writing")
        expected_prev, expected_position = row.hash, row.position + 1
    with reading(engine) as conn:
        head = conn.execute(
            select(release_heads.c.position, release_heads.c.hash).where(release_heads.c.name == name)
        ).first()
    last = (expected_position - 1, expected_prev)
    if head is not None and (int(head[0]), str(head[1])) != last:
        problems.append(f"the chain of {name} ends at event {last[0]} but its head says {head[0]} (events deleted)")
    return problems
