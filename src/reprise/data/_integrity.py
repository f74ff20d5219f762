"""Checks of a manifest read from somewhere (a file, the metadata store): its parts agree, its paths stay put.

:meth:`reprise.data.manifest.Manifest.from_json` checks the digest over the entries; these checks catch what a
hand edit or a crafted document can still get wrong with a valid digest or before the digest is looked at.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reprise.data._paths import inside
from reprise.data.hashing import check_algorithms
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reprise.data.manifest import Manifest

__all__ = ["check_declared", "check_structure"]


def check_declared(base: Path, declared: Sequence[str]) -> None:
    """Refuse declared paths of a manifest (data, possibly crafted) that lead out of the folder being checked.

    A relative path must stay inside ``base``; an absolute one is what a run's manifest records for an input outside
    the project (see :func:`build_manifest`) and is read as such.

    Args:
        base: The folder the manifest is checked against.
        declared: The manifest's declared paths.

    Raises:
        DataError: A relative path resolves outside ``base``.
    """
    for name in declared:
        if not Path(name).is_absolute():
            inside(base, name, what="manifest path")


def check_structure(manifest: Manifest) -> None:
    """Refuse a manifest whose parts contradict each other (what a hand edit or a truncated copy leaves).

    Raises:
        DataError: Unknown or missing algorithms, an entry without one of them, a path listed twice or out of
            order, no declared path, or a summary whose totals differ from the entries.
    """
    hint = "generate it again: reprise data manifest PATH --output FILE"
    try:
        algorithms = check_algorithms(manifest.algorithms)
    except DataError as exc:
        raise DataError(f"not a valid manifest: {exc.message}", hint=hint) from exc
    if not manifest.paths:
        raise DataError("not a valid manifest: no declared path", hint=hint)
    previous: str | None = None
    for entry in manifest.files:
        if previous is not None and entry.path <= previous:
            raise DataError(f"not a valid manifest: entry {entry.path!r} is listed twice or out of order", hint=hint)
        previous = entry.path
        if not all(entry.hashes.get(name) for name in algorithms) or entry.size < 0:
            raise DataError(
                f"not a valid manifest: entry {entry.path!r} lacks a hash of {', '.join(algorithms)} or a size",
                hint=hint,
            )
    summary = manifest.summary
    if summary.total_files != len(manifest.files) or summary.total_size != sum(e.size for e in manifest.files):
        raise DataError("not a valid manifest: the summary's totals differ from the entries", hint=hint)
