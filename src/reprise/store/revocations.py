"""Rows of ``reprise_revocations``: data versions and releases found bad, with who, when and why.

A revocation is a fact about a lineage node (``data:raw@v3``, ``release:clf@1.2.0``): everything downstream of it
inherits the doubt, which is what the release guards ask through :func:`revoked_among`. Revoking twice keeps the
first reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from reprise.store._rows import row_values
from reprise.store.db import reading, writing
from reprise.store.lineage import add_nodes_in

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import Engine

__all__ = ["RevocationRow", "insert_revocation", "revoked_among"]


@dataclass(frozen=True)
class RevocationRow:
    """One revocation: the REF revoked, why, by whom and when."""

    ref: str
    reason: str
    actor: str
    at: datetime


def insert_revocation(engine: Engine, row: RevocationRow) -> RevocationRow:
    """Record ``row`` (its REF becomes a lineage node if it was not one); the first revocation of a REF stands.

    Returns:
        The revocation in force (``row``, or the earlier one).
    """
    from reprise.store._upsert import insert_if_absent
    from reprise.store.tables import revocations

    with writing(engine) as conn:
        add_nodes_in(conn, [row.ref])
        insert_if_absent(conn, revocations, asdict(row), ["ref"])
    return revoked_among(engine, [row.ref])[0]


def revoked_among(engine: Engine, refs: Sequence[str]) -> list[RevocationRow]:
    """The revocations of any of ``refs``, by REF."""
    from sqlalchemy import select

    from reprise.store.tables import revocations

    wanted = sorted(set(refs))
    found: list[RevocationRow] = []
    chunk = 500
    with reading(engine) as conn:
        for start in range(0, len(wanted), chunk):
            query = select(revocations).where(revocations.c.ref.in_(wanted[start : start + chunk]))
            found.extend(
                RevocationRow(**row_values(values, RevocationRow.__dataclass_fields__))
                for values in conn.execute(query).mappings()
            )
    return sorted(found, key=lambda row: row.ref)
