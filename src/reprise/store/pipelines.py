"""Rows of ``reprise_pipeline_versions`` and ``reprise_pipeline_fits``, with their spec documents and lineage.

Plain values in and out (:class:`PipelineVersionRow`, :class:`PipelineFitRow`); :mod:`reprise.versioning.pipelines`
turns them into records. Each change is one transaction: a version commits with its spec document and its lineage
node (``pipeline:NAME@VERSION``); a fit commits with its two lineage edges (``pipeline:NAME@VERSION -> fit:ID`` and
``data:DATA_VERSION -> fit:ID``, relation ``fitted``). Two writers racing for the same key are settled by the
primary key or unique constraint: the second one gets back the row the first one stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from reprise.errors import StoreError
from reprise.store._rows import row_values
from reprise.store.db import one_line, reading, writing
from reprise.store.documents import put_document
from reprise.store.lineage import Edge, add_nodes_in, link_in, node

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from sqlalchemy import Engine, RowMapping

__all__ = [
    "PipelineFitRow",
    "PipelineVersionRow",
    "find_pipeline_fit",
    "find_pipeline_version",
    "insert_pipeline_fit",
    "insert_pipeline_version",
    "list_pipeline_fits",
    "list_pipeline_versions",
]

_T = TypeVar("_T")


@dataclass(frozen=True)
class PipelineVersionRow:
    """One pipeline version as stored (``version`` is the semver without build metadata; see ``tables.py``)."""

    name: str
    version: str
    major: int
    minor: int
    patch: int
    prerelease: str
    digest: str
    spec_digest: str
    actor: str
    created_at: datetime

    @property
    def ref(self) -> str:
        """Its lineage node, ``pipeline:NAME@VERSION``."""
        return node("pipeline", f"{self.name}@{self.version}")


@dataclass(frozen=True)
class PipelineFitRow:
    """One fit of a pipeline version on a data version, as stored.

    ``run_id`` and ``artifact_path`` locate the fitted object in MLflow; ``sha256`` is checked before every load and
    ``trusted_types`` are exactly the types the load may construct.
    """

    fit_id: str
    pipeline: str
    version: str
    data_version: str
    run_id: str
    artifact_path: str
    sha256: str
    trusted_types: list[str]
    actor: str
    created_at: datetime

    @property
    def ref(self) -> str:
        """Its lineage node, ``fit:<fit_id>``."""
        return node("fit", self.fit_id)


def insert_pipeline_version(engine: Engine, row: PipelineVersionRow, spec_json: str) -> PipelineVersionRow:
    """Store a pipeline version, its spec document and its lineage node in one transaction.

    Args:
        engine: From :func:`reprise.store.db.open_store`.
        row: The version.
        spec_json: The canonical spec (stored once per digest, under ``row.spec_digest``).

    Returns:
        The row now stored under ``(row.name, row.version)``: ``row``, or the one another writer stored first (the
        caller compares digests).

    Raises:
        StoreError: The store refused the row for another reason.
    """
    from sqlalchemy import insert

    from reprise.store.tables import pipeline_versions

    def write() -> None:
        with writing(engine) as conn:
            put_document(conn, row.spec_digest, "pipeline-spec", spec_json)
            conn.execute(insert(pipeline_versions).values(**row.__dict__))
            add_nodes_in(conn, [row.ref])

    return _insert_or_existing(write, lambda: find_pipeline_version(engine, row.name, row.version), row.ref) or row


def insert_pipeline_fit(engine: Engine, row: PipelineFitRow) -> PipelineFitRow:
    """Store a fit and its lineage edges (pipeline version and data version -> fit) in one transaction.

    Args:
        engine: A store engine.
        row: The fit.

    Returns:
        The fit now stored for ``(pipeline, version, data_version)``: ``row``, or the one another writer stored first.

    Raises:
        LineageError: An edge would close a cycle (nothing is written).
        StoreError: The store refused the row for another reason.
    """
    from sqlalchemy import insert

    from reprise.store.tables import pipeline_fits

    def write() -> None:
        with writing(engine) as conn:
            conn.execute(insert(pipeline_fits).values(**row.__dict__))
            link_in(
                conn,
                [
                    Edge(node("pipeline", f"{row.pipeline}@{row.version}"), row.ref, "fitted"),
                    Edge(node("data", row.data_version), row.ref, "fitted"),
                ],
            )

    def existing() -> PipelineFitRow | None:
        fits = list_pipeline_fits(engine, row.pipeline, row.version)
        return next((fit for fit in fits if fit.data_version == row.data_version), None)

    return _insert_or_existing(write, existing, row.ref) or row


def find_pipeline_version(engine: Engine, name: str, version: str) -> PipelineVersionRow | None:
    """The version ``version`` (semver without build metadata) of pipeline ``name``, or None.

    Args:
        engine: A store engine.
        name: The pipeline's name.
        version: The version.

    Returns:
        The row, if any.
    """
    from sqlalchemy import select

    from reprise.store.tables import pipeline_versions as table

    query = select(table).where(table.c.name == name, table.c.version == version)
    with reading(engine) as conn:
        found = conn.execute(query).mappings().first()
    return None if found is None else _version(found)


def list_pipeline_versions(engine: Engine, name: str | None = None) -> list[PipelineVersionRow]:
    """Every pipeline version (of ``name`` only, when given), by name then creation.

    Args:
        engine: A store engine.
        name: A pipeline name to filter on.

    Returns:
        The rows.
    """
    from sqlalchemy import select

    from reprise.store.tables import pipeline_versions as table

    query = select(table).order_by(table.c.name, table.c.created_at)
    if name is not None:
        query = query.where(table.c.name == name)
    with reading(engine) as conn:
        return [_version(found) for found in conn.execute(query).mappings()]


def find_pipeline_fit(engine: Engine, fit_id: str) -> PipelineFitRow | None:
    """The fit ``fit_id``, or None.

    Args:
        engine: A store engine.
        fit_id: The fit's id.

    Returns:
        The row, if any.
    """
    from sqlalchemy import select

    from reprise.store.tables import pipeline_fits as table

    with reading(engine) as conn:
        found = conn.execute(select(table).where(table.c.fit_id == fit_id)).mappings().first()
    return None if found is None else _fit(found)


def list_pipeline_fits(engine: Engine, pipeline: str, version: str | None = None) -> list[PipelineFitRow]:
    """The fits of pipeline ``pipeline`` (of one version, when given), oldest first.

    Args:
        engine: A store engine.
        pipeline: The pipeline's name.
        version: A version to filter on.

    Returns:
        The rows.
    """
    from sqlalchemy import select

    from reprise.store.tables import pipeline_fits as table

    query = select(table).where(table.c.pipeline == pipeline).order_by(table.c.created_at, table.c.fit_id)
    if version is not None:
        query = query.where(table.c.version == version)
    with reading(engine) as conn:
        return [_fit(found) for found in conn.execute(query).mappings()]


def _insert_or_existing(write: Callable[[], None], existing: Callable[[], _T | None], what: str) -> _T | None:
    """Run ``write``; when a unique key refuses it, the row already there (None when the write went in)."""
    from sqlalchemy.exc import IntegrityError

    try:
        write()
    except IntegrityError as exc:
        found = existing()
        if found is None:
            raise StoreError(f"the metadata store refused {what}: {one_line(exc)}") from exc
        return found
    return None


def _version(found: RowMapping) -> PipelineVersionRow:
    return PipelineVersionRow(**row_values(found, PipelineVersionRow.__dataclass_fields__))


def _fit(found: RowMapping) -> PipelineFitRow:
    values = row_values(found, PipelineFitRow.__dataclass_fields__)
    values["trusted_types"] = list(values["trusted_types"])
    return PipelineFitRow(**values)
