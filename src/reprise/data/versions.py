"""Named data versions: a file or folder tracked by DVC, its manifest, git commit and table schemas, under a name.

The bytes live in the DVC cache (and remotes); the metadata store holds the name, DVC's hash and ``.dvc`` file, the
manifest (as a content-addressed document), the git commit that holds the ``.dvc`` file (Reprise commits it: see
:mod:`reprise.data._commit`), and the row/column counts, schemas and content identities
(:mod:`reprise.data.identity`) of tabular files. A table whose content an earlier version already holds, under
whatever bytes or name, is named with it (``same_content_as``).
Checking a version out writes its ``.dvc`` file back, lets DVC restore the bytes, and verifies them against the
manifest; it refuses to overwrite local changes unless forced. Versioning never moves or removes the user's file
(see :func:`reprise.data.dvc.add_path`). Paths read from the store are checked to stay inside the project
(:func:`reprise.data._paths.inside`): a row is data, and data can be crafted.

Example:
    >>> reprise.version_data("data/train.csv", version_name="train-v1", metadata={"by": "ana"})  # doctest: +SKIP
    >>> reprise.checkout_data("train-v1")                                                      # doctest: +SKIP
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from reprise.config import load_settings
from reprise.data._commit import commit_dvc_file
from reprise.data._files import kind_of
from reprise.data._paths import check_gitignore_safe, inside
from reprise.data._worktree import refuse_local_changes
from reprise.data.checks import ManifestValidation
from reprise.data.dvc import add_path, restore_output
from reprise.data.hashing import DEFAULT_ALGORITHMS
from reprise.data.identity import table_identity
from reprise.data.manifest import Manifest
from reprise.data.profile import TableSchema, is_tabular, read_schema
from reprise.data.tablecheck import changed_tables
from reprise.data.tablediff import TableChange
from reprise.data.verify import verify_manifest
from reprise.errors import DataError, HashMismatchError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from reprise.config import Settings
    from reprise.data.identity import TableIdentity
    from reprise.store.data_versions import DataVersionRow

__all__ = [
    "DataVerification",
    "DataVersion",
    "checkout_data",
    "get_data_version",
    "list_data_versions",
    "load_version_manifest",
    "resolve_in_project",
    "verify_data",
    "version_data",
]

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]{0,199}")


class DataVersion(BaseModel):
    """A named, content-addressed version of a file or folder.

    Attributes:
        version_id: Opaque unique id.
        name: The name given (unique in the store).
        file_path: The file or folder, relative to the project root.
        kind: ``file`` or ``directory``.
        dvc_md5: DVC's hash (md5 of the bytes; ``<md5>.dir`` for a folder).
        manifest_digest: Digest of the manifest (paths and md5/sha256 of every file).
        files: Number of files.
        size_bytes: Total bytes.
        rows: Rows over all tabular files (None when there is none).
        columns: Distinct column names over all tabular files (None when there is none).
        tables: Schema of each tabular file.
        metadata: What the user attached.
        git_commit: The commit that holds the version's ``.dvc`` file (None outside git): checking it out and running
            ``dvc checkout`` brings the version back.
        created_at: When it was made (UTC).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version_id: str
    name: str
    file_path: str
    kind: Literal["file", "directory"]
    dvc_md5: str
    manifest_digest: str
    files: int
    size_bytes: int
    rows: int | None = None
    columns: int | None = None
    tables: tuple[TableSchema, ...] = ()
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    git_commit: str | None = None
    created_at: datetime

    @property
    def content_digest(self) -> str | None:
        """The content digest of the table, for a version of one tabular file (None otherwise)."""
        if self.kind != "file" or len(self.tables) != 1 or self.tables[0].identity is None:
            return None
        return self.tables[0].identity.content_digest


class DataVerification(BaseModel):
    """The result of checking one version's path in the work tree against its manifest.

    Attributes:
        name: The version.
        file_path: Its path.
        validation: Files missing, extra and changed.
        tables: For each changed table file whose recorded bytes the DVC cache holds: same table under new bytes,
            or different content (rows and columns changed).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    file_path: str
    validation: ManifestValidation
    tables: tuple[TableChange, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the work tree holds exactly the version's bytes."""
        return self.validation.ok


def version_data(
    path: Path | str,
    *,
    version_name: str,
    metadata: Mapping[str, JsonValue] | None = None,
    settings: Settings | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> DataVersion:
    """Track ``path`` with DVC and record it as a named data version.

    Args:
        path: A file or folder inside the project (relative to the working directory).
        version_name: The name; letters, digits and ``._+@-``, unique in the store.
        metadata: Free-form data to keep with the version (source, owner, notes...).
        settings: Project settings (default: loaded from the working directory).
        on_progress: Called as ``on_progress(bytes_done, bytes_total)`` while hashing.

    Returns:
        The version, as stored.

    Raises:
        DataError: The path does not exist or is outside the project, its name holds a newline, it holds a FIFO,
            socket, device or symlink loop, the version name is malformed or taken, or DVC refused.
        HashMismatchError: The data changed while it was being versioned.

    Example:
        >>> reprise.version_data("data/", version_name="2024-06", metadata={"rows_source": "crm"})  # doctest: +SKIP
    """
    settings = settings or load_settings()
    from reprise.store.data_versions import DataVersionRow, find_data_version, insert_data_version
    from reprise.store.data_versions import list_data_versions as list_rows
    from reprise.store.db import open_store

    _check_name(version_name)
    target = resolve_in_project(path, settings)
    check_gitignore_safe(target.relative_to(settings.project_dir.resolve()).as_posix())
    engine = open_store(settings)
    if find_data_version(engine, version_name) is not None:
        raise DataError(
            f"data version name '{version_name}' is already taken",
            hint="pick another --name or see `reprise data list`",
        )
    manifest = Manifest.generate(target, DEFAULT_ALGORITHMS, metadata=metadata, on_progress=on_progress)
    base = target if target.is_dir() else target.parent
    objects = [(base / entry.path, entry.hashes["md5"]) for entry in manifest.files]
    output = add_path(settings.project_dir, target, objects)
    if target.is_file() and output.md5 != manifest.files[0].hashes["md5"]:
        raise HashMismatchError(
            f"{path} changed while it was being versioned (md5 {manifest.files[0].hashes['md5']} then {output.md5})",
            hint=f"stop what writes {path}, then version it again",
        )
    known = list_rows(engine)
    tables = tuple(_table(base / entry.path, entry.path, known) for entry in manifest.files if is_tabular(entry.path))
    if tables:
        described = {table.path: _described(table.identity) for table in tables if table.identity is not None}
        manifest = manifest.model_copy(update={"metadata": {**manifest.metadata, "reprise.tables": described}})
    parsed = [table for table in tables if table.rows is not None]
    git_commit = commit_dvc_file(settings.project_dir, output.dvc_file, output.text, version_name)
    row = DataVersionRow(
        version_id=uuid.uuid4().hex,
        name=version_name,
        path=target.relative_to(settings.project_dir).as_posix(),
        kind="directory" if target.is_dir() else "file",
        dvc_md5=output.md5,
        dvc_file=output.dvc_file.relative_to(settings.project_dir).as_posix(),
        dvc_text=output.text,
        manifest_digest=manifest.digest,
        files=manifest.summary.total_files,
        size_bytes=manifest.summary.total_size,
        rows=sum(table.rows or 0 for table in parsed) if parsed else None,
        columns=len({column.name for table in parsed for column in table.columns}) if parsed else None,
        tables=[table.model_dump(mode="json") for table in tables],
        meta=dict(metadata or {}),
        git_commit=git_commit,
        created_at=datetime.now(UTC),
    )
    insert_data_version(engine, row, manifest.to_json())
    return _from_row(row)


def list_data_versions(*, path: Path | str | None = None, settings: Settings | None = None) -> list[DataVersion]:
    """Every data version in the store, oldest first.

    Args:
        path: Only versions of this file or folder (relative to the working directory).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The versions.

    Raises:
        ConfigError: The store cannot be opened.
    """
    settings = settings or load_settings()
    from reprise.store.data_versions import list_data_versions as list_rows
    from reprise.store.db import open_store

    where = None if path is None else _project_relative(path, settings)
    return [_from_row(row) for row in list_rows(open_store(settings), where)]


def get_data_version(version_name: str, *, settings: Settings | None = None) -> DataVersion:
    """The data version called ``version_name``.

    Args:
        version_name: The name.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The version.

    Raises:
        NotFoundError: There is no such version.
    """
    settings = settings or load_settings()
    return _from_row(_find(version_name, settings))


def checkout_data(version_name: str, *, force: bool = False, settings: Settings | None = None) -> DataVersion:
    """Restore exactly the bytes of a data version into the work tree and verify them against its manifest.

    Args:
        version_name: The name.
        force: Overwrite local changes (bytes that are in no stored version) instead of refusing.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The version restored.

    Raises:
        NotFoundError: There is no such version.
        DataError: The version's path has local changes (and ``force`` is False), the stored row names a path outside
            the project, or the bytes are neither in the DVC cache nor on a remote.
        ManifestMismatchError: What DVC restored differs from the manifest.
    """
    settings = settings or load_settings()
    from reprise.store.data_versions import list_data_versions as list_rows
    from reprise.store.data_versions import read_document
    from reprise.store.db import open_store

    row = _find(version_name, settings)
    root = settings.project_dir.resolve()
    target = inside(root, row.path, what=f"data version {version_name}: path")
    dvc_file = inside(root, row.dvc_file, what=f"data version {version_name}: .dvc file")
    check_gitignore_safe(target.relative_to(root).as_posix())
    if not force:
        engine = open_store(settings)
        refuse_local_changes(row, list_rows(engine, row.path), lambda d: read_document(engine, d), target, dvc_file)
    restore_output(root, dvc_file, row.dvc_text, target=target, source=f"data version {version_name}")
    validation = load_version_manifest(version_name, settings=settings).validate(target)
    validation.raise_for_problems(version_name)
    return _from_row(row)


def verify_data(
    target: str | None = None,
    *,
    rehash: bool = False,
    settings: Settings | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[DataVerification]:
    """Check the work tree against recorded data versions.

    Args:
        target: A version name, or a path; None checks every versioned path. For a path, the version checked is the
            one its ``.dvc`` file points at (the newest of those), else the newest version of the path.
        rehash: Re-read every byte instead of trusting the stat cache (catches a corrupted cache).
        settings: Project settings (default: loaded from the working directory).
        on_progress: Called as ``on_progress(bytes_done, bytes_total)`` while hashing.

    Returns:
        One result per version checked (a versioned file or folder that is gone reports every file missing).

    Raises:
        NotFoundError: ``target`` is neither a version nor a versioned path.
        DataError: A stored row names a path outside the project.
    """
    settings = settings or load_settings()
    from reprise.store.data_versions import find_data_version
    from reprise.store.data_versions import list_data_versions as list_rows
    from reprise.store.db import open_store

    engine = open_store(settings)
    found = None if target is None else find_data_version(engine, target)
    if found is not None:
        rows = [found]
    else:
        where = None if target is None else _project_relative(target, settings)
        rows = _current_versions(list_rows(engine, where), settings.project_dir)
        if target is not None and not rows:
            raise NotFoundError(
                f"no data version named {target} and no version of a path {target}",
                hint=f"reprise data list  (or: reprise data version {target} --name NAME)",
            )
    from reprise.store.data_versions import read_document

    results = []
    for row in rows:
        body = read_document(engine, row.manifest_digest)
        if body is None:
            raise DataError(
                f"the manifest of data version {row.name} is missing from the store", hint="version it again"
            )
        on_disk = inside(settings.project_dir, row.path, what=f"data version {row.name}: path")
        validation = verify_manifest(body.encode(), on_disk, rehash=rehash, on_progress=on_progress)
        tables: list[TableChange] = []
        if validation.mismatched:
            base = on_disk if on_disk.is_dir() else on_disk.parent
            tables = changed_tables(settings.project_dir, Manifest.from_json(body), base, validation)
        results.append(DataVerification(name=row.name, file_path=row.path, validation=validation, tables=tuple(tables)))
    return results


def load_version_manifest(version_name: str, *, settings: Settings | None = None) -> Manifest:
    """The manifest recorded with a data version.

    Args:
        version_name: The name.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The manifest.

    Raises:
        NotFoundError: There is no such version.
        DataError: The store lost the manifest document.
    """
    settings = settings or load_settings()
    from reprise.store.data_versions import read_document
    from reprise.store.db import open_store

    row = _find(version_name, settings)
    body = read_document(open_store(settings), row.manifest_digest)
    if body is None:
        raise DataError(
            f"the manifest of data version {version_name} is missing from the store", hint="version it again"
        )
    return Manifest.from_json(body)


def resolve_in_project(path: Path | str, settings: Settings) -> Path:
    """``path`` (relative to the working directory) as an absolute path that exists inside the project.

    Args:
        path: A file or folder.
        settings: Project settings.

    Returns:
        The absolute path.

    Raises:
        DataError: The path does not exist, is outside the project, or is a FIFO, socket, device or symlink loop.
    """
    target = Path(path).absolute()
    if kind_of(str(target)) == "missing":  # a symlink loop or a FIFO is refused here, with its own message
        raise DataError(f"{path} does not exist", hint=f"check the path (ls {Path(path).parent})")
    if not target.resolve().is_relative_to(settings.project_dir.resolve()):
        raise DataError(f"{path} is outside the project {settings.project_dir}", hint="copy the data into the project")
    return target.resolve()


def _current_versions(rows: list[DataVersionRow], root: Path) -> list[DataVersionRow]:
    """Per path, the version its ``.dvc`` file points at now (after a checkout: that one), else the newest."""
    chosen: dict[str, DataVersionRow] = {}
    for row in rows:
        dvc_file = inside(root, row.dvc_file, what=f"data version {row.name}: .dvc file")
        current = dvc_file.read_text(encoding="utf-8") if dvc_file.is_file() else None
        held = chosen.get(row.path)
        if held is None or current != held.dvc_text or current == row.dvc_text:
            chosen[row.path] = row
    return sorted(chosen.values(), key=lambda row: row.path)


def _project_relative(path: Path | str, settings: Settings) -> str:
    target = Path(path).absolute().resolve()
    try:
        return target.relative_to(settings.project_dir.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _find(version_name: str, settings: Settings) -> DataVersionRow:
    from reprise.store.data_versions import find_data_version
    from reprise.store.db import open_store

    row = find_data_version(open_store(settings), version_name)
    if row is None:
        raise NotFoundError(f"no data version named {version_name}", hint="reprise data list")
    return row


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise DataError(
            f"data version name {name!r} is not allowed (letters, digits and ._+@- only, at most 200)",
            hint="reprise data version PATH --name train-v1",
        )


def _table(file: Path, rel: str, known: list[DataVersionRow]) -> TableSchema:
    """The schema and content identity of one tabular file, and the versions that already hold its content."""
    schema = read_schema(file, rel)
    if schema.rows is None:
        return schema
    try:
        identity = table_identity(file, rel)
    except DataError as exc:
        return schema.model_copy(update={"error": exc.message})
    same = tuple(
        row.name
        for row in known
        if any((table.get("identity") or {}).get("content_digest") == identity.content_digest for table in row.tables)
    )
    return schema.model_copy(update={"identity": identity, "same_content_as": same})


def _described(identity: TableIdentity) -> dict[str, JsonValue]:
    """What the manifest's metadata says of a table: its content digest, rows and column names (as parsed)."""
    return {
        "content_digest": identity.content_digest,
        "rows": identity.rows,
        "columns": [column.name for column in identity.columns],
    }


def _from_row(row: DataVersionRow) -> DataVersion:
    return DataVersion(
        version_id=row.version_id,
        name=row.name,
        file_path=row.path,
        kind="directory" if row.kind == "directory" else "file",
        dvc_md5=row.dvc_md5,
        manifest_digest=row.manifest_digest,
        files=row.files,
        size_bytes=row.size_bytes,
        rows=row.rows,
        columns=row.columns,
        tables=tuple(TableSchema.model_validate(table) for table in row.tables),
        metadata=row.meta,
        git_commit=row.git_commit,
        created_at=row.created_at,
    )
