"""Migration 2: one home for every fact Reprise owns.

Adds lineage (nodes and edges), registry events (until now one MLflow run each), reproductions (until now MLflow
tags), feature-pipeline versions and their fits, unified versions, and one-time markers (e.g. "the registry events
kept as MLflow runs were imported"). The tables are defined here as they were at this version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sqlalchemy import Connection, MetaData

__all__ = ["NAME", "VERSION", "define", "upgrade"]

VERSION: Final = 2
NAME: Final = "lineage, registry events, reproductions, pipeline and unified versions"


def define(metadata: MetaData) -> None:
    """Add this migration's tables to ``metadata`` (``tables.py`` calls it too, so head and migration agree).

    Args:
        metadata: The metadata to define the tables in (it must already hold ``reprise_documents``).
    """
    from sqlalchemy import (
        JSON,
        Column,
        DateTime,
        ForeignKey,
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
        "reprise_lineage_nodes",
        metadata,
        Column("ref", String(512), primary_key=True),
        Column("kind", String(16), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Index("ix_reprise_lineage_nodes_kind", "kind"),
    )
    Table(
        "reprise_lineage_edges",
        metadata,
        Column("src", String(512), ForeignKey("reprise_lineage_nodes.ref"), nullable=False),
        Column("dst", String(512), ForeignKey("reprise_lineage_nodes.ref"), nullable=False),
        Column("relation", String(32), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("src", "dst", name="pk_reprise_lineage_edges"),
        Index("ix_reprise_lineage_edges_dst", "dst", "src"),
    )
    Table(
        "reprise_registry_events",
        metadata,
        Column("event_id", String(32), primary_key=True),
        Column("kind", String(24), nullable=False),
        Column("model", String(255), nullable=False),
        Column("version", Integer),
        Column("alias", String(255)),
        Column("from_version", Integer),
        Column("to_version", Integer),
        Column("user", String(255), nullable=False),
        Column("host", String(255), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("details", json, nullable=False),
        Index("ix_reprise_registry_events_model", "model", "at"),
    )
    Table(
        "reprise_reproductions",
        metadata,
        Column("reproduction_id", String(32), primary_key=True),
        Column("target", String(512), nullable=False),
        Column("verdict", String(24), nullable=False),
        Column("causes", json, nullable=False),
        Column("details", json, nullable=False),
        Column("report_path", Text),
        Column("actor", String(255), nullable=False),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("finished_at", DateTime(timezone=True), nullable=False),
        Index("ix_reprise_reproductions_target", "target", "finished_at"),
    )
    Table(
        "reprise_pipeline_versions",
        metadata,
        Column("name", String(255), nullable=False),
        Column("version", String(128), nullable=False),
        Column("major", Integer, nullable=False),
        Column("minor", Integer, nullable=False),
        Column("patch", Integer, nullable=False),
        Column("prerelease", String(128), nullable=False),
        Column("digest", String(80), nullable=False),
        Column("spec_digest", String(80), ForeignKey("reprise_documents.digest"), nullable=False),
        Column("actor", String(255), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("name", "version", name="pk_reprise_pipeline_versions"),
        Index("ix_reprise_pipeline_versions_digest", "name", "digest"),
    )
    Table(
        "reprise_pipeline_fits",
        metadata,
        Column("fit_id", String(32), primary_key=True),
        Column("pipeline", String(255), nullable=False),
        Column("version", String(128), nullable=False),
        Column("data_version", String(255), nullable=False),
        Column("run_id", String(64), nullable=False),
        Column("artifact_path", Text, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("trusted_types", json, nullable=False),
        Column("actor", String(255), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        UniqueConstraint("pipeline", "version", "data_version", name="uq_reprise_pipeline_fits_pipeline"),
    )
    Table(
        "reprise_unified_versions",
        metadata,
        Column("name", String(255), primary_key=True),
        Column("digest", String(80), nullable=False),
        Column("git_commit", String(64), nullable=False),
        Column("patch_digest", String(80)),
        Column("environment_digest", String(80)),
        Column("body_digest", String(80), ForeignKey("reprise_documents.digest"), nullable=False),
        Column("actor", String(255), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Index("ix_reprise_unified_versions_digest", "digest"),
    )
    Table(
        "reprise_markers",
        metadata,
        Column("name", String(128), primary_key=True),
        Column("detail", Text, nullable=False),
        Column("done_at", DateTime(timezone=True), nullable=False),
    )


def upgrade(connection: Connection) -> None:
    """Create this migration's tables (the existing ``reprise_documents`` is reflected for the foreign keys).

    Args:
        connection: A connection inside the migration transaction.
    """
    from sqlalchemy import MetaData, Table

    metadata = MetaData()
    Table("reprise_documents", metadata, autoload_with=connection)
    define(metadata)
    metadata.create_all(connection, tables=[t for t in metadata.sorted_tables if t.name != "reprise_documents"])
