"""``diff_data``: what changed between two data versions, or a version and the work tree.

Files added, removed and changed come from the two manifests. Every changed CSV/TSV/Parquet file gets a verdict
(:mod:`reprise.data.tablediff`): the same table under different bytes (and what differs in how they are written),
or different content (rows added and removed, with samples; columns added, removed, retyped). Both sides are read
from the work tree or, for a version, from the DVC cache by the md5 its manifest records. A table whose content
changed is also compared column by column for drift (:mod:`reprise.data.profile`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from reprise.config import load_settings
from reprise.data._paths import inside
from reprise.data.checks import ManifestDiff
from reprise.data.dvc import cache_files
from reprise.data.hashing import DEFAULT_ALGORITHMS
from reprise.data.manifest import Manifest
from reprise.data.profile import DriftThresholds, TableDiff, compare_tables, is_tabular
from reprise.data.tablediff import DIFFERENT_CONTENT, TableChange, compare_table_files
from reprise.data.versions import load_version_manifest, resolve_in_project
from reprise.errors import DataError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable

    from reprise.config import Settings

__all__ = ["DataDiff", "diff_data"]


class DataDiff(BaseModel):
    """Everything that differs between two sides (versions or work-tree paths).

    Attributes:
        a: The first side (a version name or a path).
        b: The second side.
        files: Files added, removed and changed.
        contents: Per changed tabular file: the verdict (same table or different content) and the row changes.
        tables: Per tabular file whose content changed: shape, columns and drift.
        thresholds: The drift thresholds applied.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    a: str
    b: str
    files: ManifestDiff
    contents: tuple[TableChange, ...] = ()
    tables: tuple[TableDiff, ...] = ()
    thresholds: DriftThresholds = DriftThresholds()

    @property
    def drifted(self) -> list[tuple[str, str]]:
        """(file, column) of every column flagged as drifted."""
        return [(table.path, column) for table in self.tables for column in table.drifted_columns]

    @property
    def is_empty(self) -> bool:
        """True when both sides hold the same files with the same bytes."""
        return self.files.is_empty


@dataclass(frozen=True)
class _Side:
    label: str
    manifest: Manifest
    #: Where each entry's bytes can be read: the work tree, or the DVC cache for a version.
    base: Path | None


def diff_data(
    a: str,
    b: str | None = None,
    *,
    thresholds: DriftThresholds | None = None,
    settings: Settings | None = None,
) -> DataDiff:
    """Compare two data versions (or a version and the work tree): files, then columns and distributions.

    Args:
        a: A version name, or a path in the work tree.
        b: A version name or a path; None means the work tree at ``a``'s path.
        thresholds: When a column counts as drifted (default: PSI > 0.2 or KS > 0.1).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The differences.

    Raises:
        NotFoundError: A side is neither a version nor an existing path.
        DataError: A version's bytes are not in the local DVC cache, or a table does not parse.

    Example:
        >>> diff = diff_data("train-v1", "train-v2")          # doctest: +SKIP
        >>> diff.drifted                                       # doctest: +SKIP
        [('train.csv', 'age')]
    """
    settings = settings or load_settings()
    limits = thresholds or DriftThresholds()
    side_a = _side(a, settings)
    side_b = _side(b, settings) if b is not None else _worktree_of(side_a, a, settings)
    manifest_a, manifest_b = side_a.manifest, _aligned(side_a.manifest, side_b.manifest)
    files = manifest_a.diff(manifest_b)
    entries_a = {entry.path: entry for entry in manifest_a.files}
    entries_b = {entry.path: entry for entry in manifest_b.files}
    changed = [path for path in files.changed if is_tabular(path) and is_tabular(_name_b(side_b, manifest_b, path))]
    locate_a = _locator(side_a, [entries_a[path].hashes for path in changed], settings)
    locate_b = _locator(side_b, [entries_b[path].hashes for path in changed], settings)
    contents, tables = [], []
    for path in changed:
        name_b = _name_b(side_b, manifest_b, path)
        file_a, file_b = locate_a(path, entries_a[path].hashes), locate_b(name_b, entries_b[path].hashes)
        change = compare_table_files(path, file_a, file_b, name_b=name_b)
        contents.append(change)
        if change.verdict == DIFFERENT_CONTENT and Path(path).suffix.lower() == Path(name_b).suffix.lower():
            tables.append(compare_tables(path, file_a, file_b, limits))
    return DataDiff(
        a=side_a.label,
        b=side_b.label,
        files=files,
        contents=tuple(contents),
        tables=tuple(tables),
        thresholds=limits,
    )


def _name_b(side_b: _Side, aligned: Manifest, path: str) -> str:
    """Side B's own name for ``path`` (a single file compared under A's name keeps its own suffix)."""
    return side_b.manifest.files[0].path if aligned is not side_b.manifest else path


def _side(name: str, settings: Settings) -> _Side:
    try:
        return _Side(label=name, manifest=load_version_manifest(name, settings=settings), base=None)
    except NotFoundError:
        pass
    if not Path(name).exists():
        raise NotFoundError(f"{name} is neither a data version nor a path", hint="reprise data list")
    target = resolve_in_project(name, settings)
    manifest = Manifest.generate(target, DEFAULT_ALGORITHMS)
    return _Side(label=name, manifest=manifest, base=target if target.is_dir() else target.parent)


def _worktree_of(side: _Side, name: str, settings: Settings) -> _Side:
    from reprise.data.versions import get_data_version

    if side.base is not None:
        raise DataError(
            f"{name} is a path: give a second side to compare with", hint=f"reprise data diff VERSION {name}"
        )
    path = get_data_version(name, settings=settings).file_path
    target = inside(settings.project_dir, path, what=f"data version {name}: path")
    if not target.exists():
        return _Side(label=f"{path} (work tree)", manifest=_empty_like(side.manifest), base=target.parent)
    manifest = Manifest.generate(target, side.manifest.algorithms)
    return _Side(label=f"{path} (work tree)", manifest=manifest, base=target if target.is_dir() else target.parent)


def _aligned(a: Manifest, b: Manifest) -> Manifest:
    """Two single files are two versions of one file, whatever their names: compare them under ``a``'s name."""
    single_a = len(a.files) == 1 and a.paths != (".",)
    single_b = len(b.files) == 1 and b.paths != (".",)
    if single_a and single_b and a.files[0].path != b.files[0].path:
        entry = b.files[0].model_copy(update={"path": a.files[0].path})
        return b.model_copy(update={"files": (entry,), "paths": a.paths})
    return b


def _empty_like(manifest: Manifest) -> Manifest:
    return manifest.model_copy(update={"files": (), "digest": ""})


def _locator(side: _Side, hashes: list[dict[str, str]], settings: Settings) -> Callable[[str, dict[str, str]], Path]:
    if side.base is not None:
        base = side.base
        return lambda path, _hashes: base / path
    found = cache_files(settings.project_dir, [item["md5"] for item in hashes if "md5" in item])

    def locate(path: str, entry_hashes: dict[str, str]) -> Path:
        cached = found.get(entry_hashes.get("md5", ""))
        if cached is None:
            raise DataError(
                f"the bytes of {path} in version {side.label} are not in the local DVC cache",
                hint=f"reprise data checkout {side.label}  (or dvc fetch)",
            )
        return cached

    return locate
