"""Migration 3: releases, their hash-chained events, the active release of each environment, and revocations.

* ``reprise_releases``: one row per (name, version): the semver parts (so SQL can order and filter without parsing),
  the unified version it was made from, its status, its components with their digests, its attestation's digest.
* ``reprise_release_events``: append-only; each event's ``hash`` covers the previous event's hash and its own
  canonical content, per release name (``position`` 1, 2, 3...), so an edited or deleted event breaks the chain.
* ``reprise_release_heads``: the last position and hash of each name's chain (a deleted tail shows too), and the
  row a writer updates conditionally to append (two writers cannot both take the same position).
* ``reprise_release_environments``: the release active in each (name, environment), who put it there and when.
* ``reprise_revocations``: data versions and releases found bad, with who, when and why.
* ``reprise_signing_keys``: the public halves of the Ed25519 keys trusted to sign release attestations, and when
  each was revoked (the private halves never enter the store).

The tables are defined here as they were at this version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sqlalchemy import Connection, MetaData

__all__ = ["NAME", "VERSION", "define", "upgrade"]

VERSION: Final = 3
NAME: Final = "releases, release events, environments, revocations and signing keys"


def define(metadata: MetaData) -> None:
    """Add this migration's tables to ``metadata`` (``tables.py`` calls it too, so head and migration agree).

    Args:
        metadata: The metadata to define the tables in.
    """
    from sqlalchemy import (
        JSON,
        Boolean,
        Column,
        DateTime,
        Index,
        Integer,
        PrimaryKeyConstraint,
        String,
        Table,
        Text,
        UniqueConstraint,
    )
    from sqlalchemy.dialects.postgresql import JSONB

    json = JSON().with_variant(JSONB(), "postgresql")
    Table(
        "reprise_releases",
        metadata,
        Column("name", String(255), nullable=False),
        Column("version", String(128), nullable=False),
        Column("build", String(128), nullable=False),
        Column("major", Integer, nullable=False),
        Column("minor", Integer, nullable=False),
        Column("patch", Integer, nullable=False),
        Column("prerelease", String(128), nullable=False),
        Column("unified_version", String(255), nullable=False),
        Column("status", String(16), nullable=False),
        Column("components", json, nullable=False),
        Column("notes", Text, nullable=False),
        Column("attestation_digest", String(80)),
        Column("actor", String(255), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("name", "version", name="pk_reprise_releases"),
        Index("ix_reprise_releases_unified_version", "unified_version"),
    )
    Table(
        "reprise_release_events",
        metadata,
        Column("event_id", String(32), primary_key=True),
        Column("name", String(255), nullable=False),
        Column("position", Integer, nullable=False),
        Column("version", String(128), nullable=False),
        Column("kind", String(24), nullable=False),
        Column("environment", String(64)),
        Column("from_version", String(128)),
        Column("to_version", String(128)),
        Column("actor", String(255), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("reason", Text, nullable=False),
        Column("forced", Boolean, nullable=False),
        Column("details", json, nullable=False),
        Column("prev_hash", String(80), nullable=False),
        Column("hash", String(80), nullable=False),
        UniqueConstraint("name", "position", name="uq_reprise_release_events_name"),
        Index("ix_reprise_release_events_environment", "name", "environment", "at"),
    )
    Table(
        "reprise_release_heads",
        metadata,
        Column("name", String(255), primary_key=True),
        Column("position", Integer, nullable=False),
        Column("hash", String(80), nullable=False),
    )
    Table(
        "reprise_release_environments",
        metadata,
        Column("name", String(255), nullable=False),
        Column("environment", String(64), nullable=False),
        Column("version", String(128), nullable=False),
        Column("event_id", String(32), nullable=False),
        Column("actor", String(255), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("name", "environment", name="pk_reprise_release_environments"),
        Index("ix_reprise_release_environments_environment", "environment", "name"),
    )
    Table(
        "reprise_revocations",
        metadata,
        Column("ref", String(512), primary_key=True),
        Column("reason", Text, nullable=False),
        Column("actor", String(255), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "reprise_signing_keys",
        metadata,
        Column("key_id", String(80), primary_key=True),
        Column("public_key", Text, nullable=False),
        Column("actor", String(255), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("revoked_at", DateTime(timezone=True)),
        Column("revoke_reason", Text),
    )


def upgrade(connection: Connection) -> None:
    """Create this migration's tables.

    Args:
        connection: A connection inside the migration transaction.
    """
    from sqlalchemy import MetaData

    metadata = MetaData()
    define(metadata)
    metadata.create_all(connection)
