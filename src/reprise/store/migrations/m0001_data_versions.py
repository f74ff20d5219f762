"""Migration 1: content-addressed documents and named data versions.

The tables are defined here as they were at this version (not imported from ``tables.py``, which moves with head).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["NAME", "VERSION", "upgrade"]

VERSION: Final = 1
NAME: Final = "documents and data versions"


def upgrade(connection: Connection) -> None:
    """Create ``reprise_documents`` and ``reprise_data_versions``.

    Args:
        connection: A connection inside the migration transaction.
    """
    from sqlalchemy import (
        JSON,
        BigInteger,
        Column,
        DateTime,
        ForeignKey,
        Index,
        Integer,
        MetaData,
        String,
        Table,
        Text,
    )
    from sqlalchemy.dialects.postgresql import JSONB

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    json = JSON().with_variant(JSONB(), "postgresql")
    Table(
        "reprise_documents",
        metadata,
        Column("digest", String(80), primary_key=True),
        Column("kind", String(40), nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    Table(
        "reprise_data_versions",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("version_id", String(32), nullable=False, unique=True),
        Column("name", String(255), nullable=False, unique=True),
        Column("path", Text, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("dvc_md5", String(64), nullable=False),
        Column("dvc_file", Text, nullable=False),
        Column("dvc_text", Text, nullable=False),
        Column("manifest_digest", String(80), ForeignKey("reprise_documents.digest"), nullable=False),
        Column("files", Integer, nullable=False),
        Column("size_bytes", BigInteger, nullable=False),
        Column("rows", BigInteger),
        Column("columns", Integer),
        Column("tables", json, nullable=False),
        Column("meta", json, nullable=False),
        Column("git_commit", String(64)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Index("ix_reprise_data_versions_path", "path"),
    )
    metadata.create_all(connection)
