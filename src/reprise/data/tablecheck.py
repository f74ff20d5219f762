"""The finer verdict on recorded tables that changed: same table under new bytes, or which rows and columns changed.

A manifest check says "changed: data/train.csv (sha256 ab12 -> cd34)". When the recorded bytes are still in the DVC
cache (by the md5 the manifest records), each changed CSV/TSV/Parquet file is compared with them
(:func:`reprise.data.tablediff.compare_table_files`), so ``reprise data verify`` and ``reprise reproduce`` can say
"same table, different bytes (line endings: lf -> crlf)" or "different content: 3 rows added, 1 removed".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reprise.data.identity import is_table
from reprise.errors import DataError

if TYPE_CHECKING:
    from pathlib import Path

    from reprise.data.checks import ManifestValidation
    from reprise.data.manifest import Manifest
    from reprise.data.tablediff import TableChange

__all__ = ["changed_tables"]


def changed_tables(root: Path, manifest: Manifest, base: Path, validation: ManifestValidation) -> list[TableChange]:
    """The verdict on every changed table file whose recorded bytes the DVC cache of ``root`` still holds.

    Args:
        root: The DVC repository whose cache to look in.
        manifest: The recorded manifest (its entries carry the md5 of the recorded bytes).
        base: Where the manifest's entries are now (a file's folder, or the folder itself).
        validation: The check of ``base`` against ``manifest``.

    Returns:
        One change per changed table whose recorded bytes were found and which still parses (others are skipped:
        the byte-level problem still stands in the validation).
    """
    from reprise.data.dvc import cache_files, is_dvc_repo
    from reprise.data.tablediff import compare_table_files

    entries = {entry.path: entry for entry in manifest.files}
    paths = [item.path for item in validation.mismatched if is_table(item.path) and item.path in entries]
    md5s = [entries[path].hashes["md5"] for path in paths if "md5" in entries[path].hashes]
    if not md5s or not is_dvc_repo(root):
        return []
    cached = cache_files(root, md5s)
    changes = []
    for path in paths:
        recorded = cached.get(entries[path].hashes.get("md5", ""))
        if recorded is None:
            continue
        try:
            changes.append(compare_table_files(path, recorded, base / path))
        except DataError:
            continue
    return changes
