"""Content-addressed documents (manifests, pipeline specs, version bodies): stored once per digest, read by digest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from reprise.store.db import reading

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = ["put_document", "read_document"]


def put_document(conn: Connection, digest: str, kind: str, body: str) -> None:
    """Store a document inside the caller's transaction; one already stored under ``digest`` is kept as it was.

    Args:
        conn: A connection inside a write transaction.
        digest: ``sha256:<hex>`` of ``body``.
        kind: What it is (``manifest``, ``pipeline-spec``, ``unified-version``...).
        body: The canonical JSON text.
    """
    from reprise.store._upsert import insert_if_absent
    from reprise.store.tables import documents

    values = {"digest": digest, "kind": kind, "body": body, "created_at": datetime.now(UTC)}
    insert_if_absent(conn, documents, values, ["digest"])


def read_document(engine: Engine, digest: str) -> str | None:
    """The body of the document with this digest, or None.

    Args:
        engine: A store engine.
        digest: ``sha256:<hex>``.

    Returns:
        The stored text.
    """
    from sqlalchemy import select

    from reprise.store.tables import documents

    with reading(engine) as conn:
        body = conn.execute(select(documents.c.body).where(documents.c.digest == digest)).scalar()
    return None if body is None else str(body)
