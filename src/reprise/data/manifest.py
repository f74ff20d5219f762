"""Manifests: which files, of what size and content, with one digest over all of them.

The digest covers relative paths and content hashes only, sorted, so it depends neither on the order a folder is
walked in nor on mtimes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from reprise._canonical import digest
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["FileEntry", "Manifest", "build_manifest"]

_CHUNK = 1 << 20


class FileEntry(BaseModel):
    """One file: its path relative to the manifest base, its size and its content hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    size: int
    hashes: dict[str, str]


class Manifest(BaseModel):
    """A set of files and one digest over their paths and contents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    paths: tuple[str, ...]
    files: tuple[FileEntry, ...]
    digest: str

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes."""
        return sum(entry.size for entry in self.files)


def build_manifest(paths: Sequence[Path | str], *, base: Path) -> Manifest:
    """Hash every file under ``paths`` (files or folders) with sha256 and return their manifest.

    Args:
        paths: Files or folders; relative ones are taken relative to ``base``.
        base: The folder entries are named relative to (normally the project root).

    Raises:
        DataError: A path does not exist or cannot be read.
    """
    entries: dict[str, FileEntry] = {}
    declared: list[str] = []
    for raw in paths:
        path = (base / raw).resolve() if not Path(raw).is_absolute() else Path(raw)
        if not path.exists():
            raise DataError(f"input or output path {raw} does not exist", hint=f"create {raw} or fix the path")
        declared.append(_relative(path, base))
        for file in _walk(path):
            name = _relative(file, base)
            entries[name] = FileEntry(path=name, size=file.stat().st_size, hashes={"sha256": _sha256(file)})
    files = tuple(entries[name] for name in sorted(entries))
    return Manifest(
        paths=tuple(sorted(set(declared))),
        files=files,
        digest=digest([[entry.path, entry.hashes["sha256"]] for entry in files]),
    )


def _walk(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for child in sorted(path.rglob("*")):
        if child.is_file():
            yield child


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}", hint=f"check the permissions of {path}") from exc
    return hasher.hexdigest()
