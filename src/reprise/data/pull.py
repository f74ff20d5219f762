"""``reprise data pull``: a table read from a source (a SQL query...), written as Parquet and versioned; refreshed.

:func:`pull_data` reads the source, writes the table atomically (temporary file in the same folder, then a rename)
as Parquet, and versions it like any file (:func:`reprise.data.versions.version_data`: DVC hash, manifest, content
identity, git commit) with the source's spec (the query text and the URI with its password hidden) and the row
count in its metadata. :func:`refresh_data` rebuilds the source from a version's spec, reads it again and compares
content digests: unchanged content leaves the file and the store as they were; changed content replaces the file,
versions it under a new name and says which rows and columns changed against the version refreshed.

Example:
    >>> pull_data(SqlSource(uri, "SELECT * FROM orders"), "data/orders.parquet", version_name="o")  # doctest: +SKIP
    >>> refresh_data("o").change.rows_added                                                         # doctest: +SKIP
    1
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from reprise.config import load_settings
from reprise.data.identity import table_identity
from reprise.data.sources import Source, source_from_spec
from reprise.data.tablediff import TableChange, compare_table_files
from reprise.data.versions import DataVersion, get_data_version, version_data
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
    from pydantic import JsonValue

    from reprise.config import Settings

__all__ = ["PullResult", "pull_data", "refresh_data"]


class PullResult(BaseModel):
    """What a pull or a refresh did.

    Attributes:
        version: The data version made (None when a refresh found the same content).
        refreshed: The version a refresh re-read the source of (None for a first pull).
        changed: Whether the content differs from the refreshed version (True for a first pull).
        rows: Rows read from the source.
        content_digest: The content digest of what was read.
        change: Rows and columns that changed against the refreshed version (a refresh with new content only).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: DataVersion | None
    refreshed: str | None = None
    changed: bool
    rows: int
    content_digest: str
    change: TableChange | None = None


def pull_data(
    source: Source,
    to: Path | str,
    *,
    version_name: str,
    metadata: Mapping[str, JsonValue] | None = None,
    settings: Settings | None = None,
) -> PullResult:
    """Read ``source``, write it as Parquet at ``to`` (atomically) and version it as ``version_name``.

    Args:
        source: Where the table comes from (e.g. :class:`reprise.data.sources.SqlSource`).
        to: A ``.parquet`` file inside the project (relative to the working directory).
        version_name: The data version's name.
        metadata: More to keep with the version (the source's spec and the row count are added).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The version made.

    Raises:
        DataError: ``to`` is not a ``.parquet`` path inside the project, the source failed, or versioning refused.
    """
    settings = settings or load_settings()
    target = _target(to, settings)
    table = source.read()
    _write_parquet(table, target)
    made = version_data(
        target,
        version_name=version_name,
        metadata={**dict(metadata or {}), "source": source.spec(), "rows": table.num_rows},
        settings=settings,
    )
    return PullResult(
        version=made, changed=True, rows=table.num_rows, content_digest=_digest(made, target, version_name)
    )


def refresh_data(
    version_name: str,
    *,
    uri: str | None = None,
    new_name: str | None = None,
    settings: Settings | None = None,
) -> PullResult:
    """Re-read the source of a pulled data version and version the result if its content changed.

    Args:
        version_name: A version made by :func:`pull_data` (or a refresh).
        uri: The source's full URI, when the stored one hides a password.
        new_name: The name of the new version (default ``<name>@<UTC time>``).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        Whether the content changed, and the new version and the row/column changes when it did.

    Raises:
        NotFoundError: There is no such version.
        DataError: The version was not pulled from a source, or the source failed.
    """
    settings = settings or load_settings()
    previous = get_data_version(version_name, settings=settings)
    spec = previous.metadata.get("source")
    if not isinstance(spec, dict) or previous.kind != "file":
        raise DataError(
            f"data version {version_name} was not pulled from a source",
            hint='reprise data pull URI "SELECT ..." --to data/x.parquet --name NAME',
        )
    source = source_from_spec(spec, uri)
    target = _target(previous.file_path, settings)
    table = source.read()
    fresh = _write_parquet(table, target, replace=False)
    try:
        identity = table_identity(fresh, target.name)
        if identity.content_digest == previous.content_digest:
            return PullResult(
                version=None,
                refreshed=version_name,
                changed=False,
                rows=table.num_rows,
                content_digest=identity.content_digest,
            )
        change = _change_against(previous, fresh, target, settings)
        fresh.replace(target)
    finally:
        fresh.unlink(missing_ok=True)
    made = version_data(
        target,
        version_name=new_name or _refresh_name(version_name),
        metadata={"source": spec, "rows": table.num_rows, "refreshed_from": version_name},
        settings=settings,
    )
    return PullResult(
        version=made,
        refreshed=version_name,
        changed=True,
        rows=table.num_rows,
        content_digest=identity.content_digest,
        change=change,
    )


def _target(to: Path | str, settings: Settings) -> Path:
    """``to`` (relative to the working directory) as an absolute ``.parquet`` path inside the project."""
    target = Path(to).absolute()
    if target.suffix.lower() not in (".parquet", ".pq"):
        raise DataError(f"--to {to} must be a .parquet file", hint="--to data/orders.parquet")
    if not target.parent.resolve().is_relative_to(settings.project_dir.resolve()):
        raise DataError(f"{to} is outside the project {settings.project_dir}", hint="--to data/NAME.parquet")
    return target.parent.resolve() / target.name


def _write_parquet(table: pa.Table, target: Path, *, replace: bool = True) -> Path:
    """Write ``table`` to a temporary file beside ``target``; rename it onto ``target`` when ``replace``."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        pq.write_table(table, temporary)
        if replace:
            temporary.replace(target)
            return target
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _change_against(previous: DataVersion, fresh: Path, target: Path, settings: Settings) -> TableChange | None:
    """Rows and columns changed from the refreshed version's bytes (DVC cache, else the file if unchanged)."""
    from reprise.data.dvc import cache_files

    recorded = cache_files(settings.project_dir, [previous.dvc_md5]).get(previous.dvc_md5)
    if recorded is None:
        return None
    return compare_table_files(target.name, recorded, fresh)


def _digest(made: DataVersion, target: Path, name: str) -> str:
    if made.content_digest is not None:
        return made.content_digest
    return table_identity(target, name).content_digest


def _refresh_name(version_name: str) -> str:
    base = version_name.split("@", 1)[0]
    return f"{base}@{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"
