"""Rows of ``reprise_data_versions`` and their manifest documents: insert, find, list.

Plain values in and out (:class:`DataVersionRow`); :mod:`reprise.data.versions` turns them into ``DataVersion``
records. A duplicate name is refused by the unique constraint, whichever process gets there second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reprise.errors import DataError
from reprise.store._rows import row_values
from reprise.store.db import reading, writing
from reprise.store.documents import put_document, read_document
from reprise.store.lineage import Edge, add_nodes_in, link_in, node

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Engine, RowMapping

__all__ = ["DataVersionRow", "find_data_version", "insert_data_version", "list_data_versions", "read_document"]


@dataclass(frozen=True)
class DataVersionRow:
    """One data version as stored (see :mod:`reprise.store.tables` for the columns)."""

    version_id: str
    name: str
    path: str
    kind: str
    dvc_md5: str
    dvc_file: str
    dvc_text: str
    manifest_digest: str
    files: int
    size_bytes: int
    rows: int | None
    columns: int | None
    tables: list[dict[str, Any]]
    meta: dict[str, Any]
    git_commit: str | None
    created_at: datetime


def insert_data_version(engine: Engine, row: DataVersionRow, manifest_json: str) -> None:
    """Store a data version and its manifest document in one transaction.

    Args:
        engine: From :func:`reprise.store.db.open_store`.
        row: The version.
        manifest_json: The manifest's JSON form (stored once per digest).

    Raises:
        DataError: The name is already taken (also when another process took it a moment ago).
    """
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from reprise.store.tables import data_versions

    try:
        with writing(engine) as conn:
            put_document(conn, row.manifest_digest, "manifest", manifest_json)
            conn.execute(insert(data_versions).values(**row.__dict__))
            version = node("data", row.name)
            if row.git_commit:
                link_in(conn, [Edge(node("commit", row.git_commit), version, "holds")])
            else:
                add_nodes_in(conn, [version])
    except IntegrityError as exc:
        if find_data_version(engine, row.name) is not None:
            raise DataError(
                f"data version name '{row.name}' is already taken",
                hint="pick another --name or see `reprise data list`",
            ) from exc
        raise DataError(f"the metadata store refused data version '{row.name}': {exc.orig}") from exc


def find_data_version(engine: Engine, name: str) -> DataVersionRow | None:
    """The version called ``name``, or None.

    Args:
        engine: A store engine.
        name: The version name.

    Returns:
        The row, if any.
    """
    from sqlalchemy import select

    from reprise.store.tables import data_versions

    with reading(engine) as conn:
        found = conn.execute(select(data_versions).where(data_versions.c.name == name)).mappings().first()
    return None if found is None else _row(found)


def list_data_versions(engine: Engine, path: str | None = None) -> list[DataVersionRow]:
    """Every data version (of ``path`` only, when given), oldest first.

    Args:
        engine: A store engine.
        path: A project-relative path to filter on.

    Returns:
        The rows in creation order.
    """
    from sqlalchemy import select

    from reprise.store.tables import data_versions

    query = select(data_versions).order_by(data_versions.c.created_at, data_versions.c.id)
    if path is not None:
        query = query.where(data_versions.c.path == path)
    with reading(engine) as conn:
        return [_row(found) for found in conn.execute(query).mappings()]


def _row(found: RowMapping) -> DataVersionRow:
    return DataVersionRow(**row_values(found, DataVersionRow.__dataclass_fields__))
