"""Rows of ``reprise_releases`` and ``reprise_release_environments``, written with their chained events.

Every change to a release is one transaction: the row (created, or its status changed), the active release of an
environment, the lineage (``version:<unified> -> release:NAME@VERSION``) and the event appended to the name's chain
(:mod:`reprise.store.release_events`). A writer that finds the chain moved under it starts the transaction again.
A taken (name, version) is refused by the primary key, whichever process gets there second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import StoreError, VersioningError
from reprise.store._rows import row_values
from reprise.store.db import reading, writing
from reprise.store.documents import put_document
from reprise.store.lineage import Edge, link_in, node
from reprise.store.release_events import ReleaseEventRow, StaleHeadError, append_event_in

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from sqlalchemy import Connection, Engine

__all__ = [
    "EnvironmentRow",
    "ReleaseRow",
    "active_releases",
    "find_release",
    "insert_release",
    "list_releases",
    "record_release_event",
]

#: Attempts at appending to a chain other writers keep moving.
_ATTEMPTS: Final = 20


@dataclass(frozen=True)
class ReleaseRow:
    """One release as stored (see :mod:`reprise.store.migrations.m0003_releases` for the columns)."""

    name: str
    version: str
    build: str
    major: int
    minor: int
    patch: int
    prerelease: str
    unified_version: str
    status: str
    components: list[dict[str, Any]]
    notes: str
    attestation_digest: str | None
    actor: str
    created_at: datetime


@dataclass(frozen=True)
class EnvironmentRow:
    """The release active in one (name, environment), and the event that put it there."""

    name: str
    environment: str
    version: str
    event_id: str
    actor: str
    at: datetime


def insert_release(engine: Engine, row: ReleaseRow, created: ReleaseEventRow) -> ReleaseEventRow:
    """Store ``row``, its lineage ``version:<unified> -> release:NAME@VERSION`` and its ``created`` event.

    Raises:
        VersioningError: The release exists already.
    """
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from reprise.store.tables import releases

    def write(conn: Connection) -> None:
        conn.execute(insert(releases).values(**asdict(row)))
        link_in(conn, [Edge(node("version", row.unified_version), _ref(row.name, row.version), "component")])

    try:
        return _with_event(engine, created, write)
    except IntegrityError as exc:
        if find_release(engine, row.name, row.version) is not None:
            raise VersioningError(
                f"release {row.name}@{row.version} exists already (releases are immutable)",
                hint=f"create a new version, e.g. reprise release create {row.name} <next version> --from ...",
            ) from exc
        raise StoreError(f"the metadata store refused release {row.name}@{row.version}: {exc.orig}") from exc


def record_release_event(
    engine: Engine,
    event: ReleaseEventRow,
    *,
    status: str | None = None,
    activate: str | None = None,
    attestation_digest: str | None = None,
    document: tuple[str, str, str] | None = None,
) -> ReleaseEventRow:
    """Append ``event`` and, in the same transaction, apply what it changes.

    Args:
        engine: A store engine.
        event: The event (its position and hashes are set here).
        status: The release's new status, when the event changes it.
        activate: An environment whose active release becomes ``event.version``.
        attestation_digest: The digest of the release's new attestation document.
        document: ``(digest, kind, body)`` of a document to store with the event (the attestation itself).

    Returns:
        The event as stored.
    """
    from sqlalchemy import update

    from reprise.store._upsert import insert_if_absent
    from reprise.store.tables import release_environments, releases

    def write(conn: Connection) -> None:
        if document is not None:
            put_document(conn, *document)
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status
        if attestation_digest is not None:
            changes["attestation_digest"] = attestation_digest
        if changes:
            conn.execute(
                update(releases)
                .where(releases.c.name == event.name, releases.c.version == event.version)
                .values(**changes)
            )
        if activate is not None:
            values = {"version": event.version, "event_id": event.event_id, "actor": event.actor, "at": event.at}
            key = {"name": event.name, "environment": activate}
            moved = conn.execute(
                update(release_environments)
                .where(release_environments.c.name == event.name, release_environments.c.environment == activate)
                .values(**values)
            )
            if moved.rowcount == 0:
                insert_if_absent(conn, release_environments, {**key, **values}, ["name", "environment"])

    return _with_event(engine, event, write)


def find_release(engine: Engine, name: str, version: str) -> ReleaseRow | None:
    """The release ``name@version`` (``version`` without build metadata), or None."""
    from sqlalchemy import select

    from reprise.store.tables import releases

    query = select(releases).where(releases.c.name == name, releases.c.version == version)
    with reading(engine) as conn:
        found = conn.execute(query).mappings().first()
    return None if found is None else ReleaseRow(**row_values(found, ReleaseRow.__dataclass_fields__))


def list_releases(engine: Engine, name: str | None = None) -> list[ReleaseRow]:
    """Every release (of ``name`` only, when given), by name then numeric version (pre-releases unsorted)."""
    from sqlalchemy import select

    from reprise.store.tables import releases

    table = releases
    query = select(table).order_by(table.c.name, table.c.major, table.c.minor, table.c.patch, table.c.created_at)
    if name is not None:
        query = query.where(table.c.name == name)
    with reading(engine) as conn:
        found = conn.execute(query).mappings().all()
    return [ReleaseRow(**row_values(values, ReleaseRow.__dataclass_fields__)) for values in found]


def active_releases(
    engine: Engine, *, names: Sequence[str] | None = None, environment: str | None = None
) -> list[EnvironmentRow]:
    """The active release of each (name, environment), of ``names`` and ``environment`` only when given."""
    from sqlalchemy import select

    from reprise.store.tables import release_environments

    table = release_environments
    query = select(table).order_by(table.c.name, table.c.environment)
    if names is not None:
        query = query.where(table.c.name.in_(list(names)))
    if environment is not None:
        query = query.where(table.c.environment == environment)
    with reading(engine) as conn:
        found = conn.execute(query).mappings().all()
    return [EnvironmentRow(**row_values(values, EnvironmentRow.__dataclass_fields__)) for values in found]


def _with_event(engine: Engine, event: ReleaseEventRow, write: Callable[[Connection], None]) -> ReleaseEventRow:
    """Run ``write`` and append ``event`` in one transaction; start again when another writer moved the chain."""
    for _ in range(_ATTEMPTS):
        try:
            with writing(engine) as conn:
                write(conn)
                return append_event_in(conn, event)
        except StaleHeadError:
            continue
    raise StoreError(
        f"the history of release {event.name} kept moving under {_ATTEMPTS} attempts to append to it",
        hint="retry; many writers are changing this release name at once",
    )


def _ref(name: str, version: str) -> str:
    return node("release", f"{name}@{version}")
