"""The schema at head, as SQLAlchemy Core tables (queries use these; migrations keep their own frozen copies)."""

from __future__ import annotations

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

from reprise.store.migrations import m0002_lineage, m0003_releases

__all__ = [
    "data_versions",
    "documents",
    "lineage_edges",
    "lineage_nodes",
    "markers",
    "metadata",
    "pipeline_fits",
    "pipeline_versions",
    "registry_events",
    "release_environments",
    "release_events",
    "release_heads",
    "releases",
    "reproductions",
    "revocations",
    "signing_keys",
    "schema_migrations",
    "unified_versions",
]

#: Named constraints, so later migrations can alter them by name on both backends.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_Json = JSON().with_variant(JSONB(), "postgresql")

schema_migrations = Table(
    "reprise_schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

documents = Table(
    "reprise_documents",
    metadata,
    Column("digest", String(80), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

data_versions = Table(
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
    Column("tables", _Json, nullable=False),
    Column("meta", _Json, nullable=False),
    Column("git_commit", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_reprise_data_versions_path", "path"),
)

# Migration 2's tables are defined once, in the migration; head is the same until a later migration alters them.
m0002_lineage.define(metadata)
lineage_nodes = metadata.tables["reprise_lineage_nodes"]
lineage_edges = metadata.tables["reprise_lineage_edges"]
registry_events = metadata.tables["reprise_registry_events"]
reproductions = metadata.tables["reprise_reproductions"]
pipeline_versions = metadata.tables["reprise_pipeline_versions"]
pipeline_fits = metadata.tables["reprise_pipeline_fits"]
unified_versions = metadata.tables["reprise_unified_versions"]
markers = metadata.tables["reprise_markers"]

# Migration 3's tables, likewise.
m0003_releases.define(metadata)
releases = metadata.tables["reprise_releases"]
release_events = metadata.tables["reprise_release_events"]
release_heads = metadata.tables["reprise_release_heads"]
release_environments = metadata.tables["reprise_release_environments"]
revocations = metadata.tables["reprise_revocations"]
signing_keys = metadata.tables["reprise_signing_keys"]
