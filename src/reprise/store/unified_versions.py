"""Rows of ``reprise_unified_versions``: one immutable name for commit, data, pipelines, runs, model, environment.

The row, its body (a content-addressed document: the components with their digests) and its lineage (every
component ``-> version:NAME``) are written in one transaction. A taken name is refused by the primary key, whichever
process gets there second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from reprise.errors import VersioningError
from reprise.store._rows import row_values
from reprise.store.db import reading, writing
from reprise.store.documents import put_document, read_document
from reprise.store.lineage import Edge, link_in, node

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import Engine

__all__ = ["UnifiedVersionRow", "find_unified_version", "insert_unified_version", "list_unified_versions"]


@dataclass(frozen=True)
class UnifiedVersionRow:
    """One unified version as stored (its components are in the body document, ``body_digest``)."""

    name: str
    digest: str
    git_commit: str
    patch_digest: str | None
    environment_digest: str | None
    body_digest: str
    actor: str
    created_at: datetime


def insert_unified_version(engine: Engine, row: UnifiedVersionRow, body: str, components: Sequence[str]) -> None:
    """Store ``row``, its body and the lineage ``component -> version:NAME`` of each REF in ``components``.

    Raises:
        VersioningError: The name is taken.
        LineageError: A component is downstream of this version already (nothing is written).
    """
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from reprise.store.tables import unified_versions

    version = node("version", row.name)
    try:
        with writing(engine) as conn:
            put_document(conn, row.body_digest, "unified-version", body)
            conn.execute(insert(unified_versions).values(**asdict(row)))
            link_in(conn, [Edge(ref, version, "component") for ref in dict.fromkeys(components)])
    except IntegrityError as exc:
        if find_unified_version(engine, row.name) is not None:
            raise VersioningError(
                f"version name '{row.name}' is already taken", hint="pick another name, or see `reprise version list`"
            ) from exc
        raise VersioningError(f"the metadata store refused version '{row.name}': {exc.orig}") from exc


def find_unified_version(engine: Engine, name: str) -> tuple[UnifiedVersionRow, str] | None:
    """The version called ``name`` and its body, or None."""
    from sqlalchemy import select

    from reprise.store.tables import unified_versions

    with reading(engine) as conn:
        found = conn.execute(select(unified_versions).where(unified_versions.c.name == name)).mappings().first()
    if found is None:
        return None
    row = UnifiedVersionRow(**row_values(found, UnifiedVersionRow.__dataclass_fields__))
    return row, read_document(engine, row.body_digest) or "{}"


def list_unified_versions(engine: Engine) -> list[UnifiedVersionRow]:
    """Every unified version, oldest first."""
    from sqlalchemy import select

    from reprise.store.tables import unified_versions

    query = select(unified_versions).order_by(unified_versions.c.created_at, unified_versions.c.name)
    with reading(engine) as conn:
        found = conn.execute(query).mappings().all()
    return [UnifiedVersionRow(**row_values(values, UnifiedVersionRow.__dataclass_fields__)) for values in found]
