"""Whether checking a data version out would destroy bytes that exist nowhere else.

A checkout overwrites the version's path. That is harmless when the work tree holds exactly the bytes of a stored
version (they are in the DVC cache): the version being checked out, or the one the ``.dvc`` file points at now.
Anything else is a local change, and a checkout without ``--force`` refuses to overwrite it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from reprise.data.verify import verify_manifest
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from reprise.store.data_versions import DataVersionRow

__all__ = ["refuse_local_changes", "shown"]


def refuse_local_changes(
    row: DataVersionRow,
    versions: Sequence[DataVersionRow],
    read_manifest: Callable[[str], str | None],
    target: Path,
    dvc_file: Path,
) -> None:
    """Raise unless ``target`` is absent or holds exactly the bytes of a stored version of it.

    Args:
        row: The version about to be checked out.
        versions: Every stored version of the same path.
        read_manifest: The manifest document with a digest, from the metadata store (None when lost).
        target: Its path in the work tree (checked to be inside the project).
        dvc_file: Its ``.dvc`` file in the work tree.

    Raises:
        DataError: ``target`` has local changes (modified, added or removed files) that the checkout would overwrite.
    """
    if not os.path.lexists(target):
        return
    current = dvc_file.read_text(encoding="utf-8") if dvc_file.is_file() else None
    # The version the .dvc file points at first: after a checkout or a version, that is the one on disk.
    candidates = [other for other in versions if other.dvc_text == current]
    candidates.append(row)
    seen: set[str] = set()
    for candidate in candidates:
        if candidate.manifest_digest in seen:
            continue
        seen.add(candidate.manifest_digest)
        body = read_manifest(candidate.manifest_digest)
        if body is not None and verify_manifest(body.encode(), target).ok:
            return
    raise DataError(
        f"{shown(row.path)} has local changes that checking out {row.name} would overwrite; "
        "pass --force to discard them",
        hint=f"reprise data version {shown(row.path)} --name NEW-NAME to keep them, "
        f"or reprise data checkout {row.name} --force",
    )


def shown(path: str) -> str:
    """``path`` as it can be printed on one line (quoted when it holds a newline or another control character)."""
    return path if path.isprintable() else repr(path)
