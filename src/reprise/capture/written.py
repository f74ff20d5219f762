"""Which files a run wrote: the project tree's sizes and modification times before the run, compared after it.

A run's outputs are what it wrote, declared or not: a script that saves ``metrics.json`` without saying so still
produced it, and a stale file left in an output folder by an earlier script is not an output of this run. Folders
that hold tool state rather than results (``.git``, ``.reprise``, ``.dvc``, virtual environments, byte code, MLflow's
own stores) are not watched.

Example:
    >>> before = TreeSnapshot.take(project)      # doctest: +SKIP
    >>> ...                                      # the run
    >>> before.written()                         # doctest: +SKIP
    ['metrics.json', 'reports/confusion.csv']
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["TreeSnapshot"]

#: Folders of tools, caches and environments: what changes there is state, not a result.
_SKIP_DIRS: Final = frozenset(
    {
        ".git", ".reprise", ".dvc", "__pycache__", ".venv", "venv", "mlruns", "mlartifacts", ".ipynb_checkpoints",
        "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".hypothesis",
    }
)  # fmt: skip
#: A tree larger than this is not watched (a data lake checked out in the project): declared outputs still count.
_MAX_FILES: Final = 50_000


class TreeSnapshot:
    """The size and modification time of every regular file under ``root`` at one moment.

    Attributes:
        root: The folder watched.
        files: ``{relative posix path: (size, mtime_ns)}``, or None when the tree had more than 50,000 files.
    """

    def __init__(self, root: Path, files: dict[str, tuple[int, int]] | None) -> None:
        self.root = root
        self.files = files

    @classmethod
    def take(cls, root: Path) -> TreeSnapshot:
        """Record the tree under ``root`` now (symbolic links and special files are not followed nor listed)."""
        return cls(root, _scan(root))

    def written(self) -> list[str] | None:
        """The files created or modified under ``root`` since the snapshot, sorted; None when not watched."""
        if self.files is None:
            return None
        now = _scan(self.root)
        if now is None:
            return None
        return sorted(path for path, stat in now.items() if self.files.get(path) != stat)


def _scan(root: Path) -> dict[str, tuple[int, int]] | None:
    found: dict[str, tuple[int, int]] = {}
    stack = [""]
    while stack:
        prefix = stack.pop()
        try:
            entries = list(os.scandir(root / prefix if prefix else root))
        except OSError:
            continue
        for entry in entries:
            relative = f"{prefix}{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in _SKIP_DIRS:
                        stack.append(relative + "/")
                elif entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    found[relative] = (stat.st_size, stat.st_mtime_ns)
            except OSError:
                continue
            if len(found) > _MAX_FILES:
                return None
    return found
