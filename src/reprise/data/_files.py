"""Walking folders for manifests: which files are selected, named how (POSIX paths relative to a base).

os.scandir and os.path, not pathlib: this runs once per file, and on 10,000 files Path objects cost more than the
system calls.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from operator import itemgetter
from typing import TYPE_CHECKING

from reprise.data.hashing import FileStat
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["collect", "matches_any"]


def collect(
    base: Path, declared: Sequence[str], include: Sequence[str], exclude: Sequence[str]
) -> list[tuple[str, FileStat]]:
    """Return every file under the declared paths as (path relative to ``base``, stat), sorted by path.

    Args:
        base: The folder entries are named relative to.
        declared: Files or folders relative to ``base`` (``.`` for all of it).
        include: Globs a file must match (none: every file).
        exclude: Globs that drop files, and whole folders when a folder matches.

    Returns:
        The selected files.

    Raises:
        DataError: A folder cannot be listed.
    """
    found: list[tuple[str, FileStat]] = []
    make = tuple.__new__  # FileStat's generated __new__ is Python code; this is the same tuple, built in C
    root = os.path.abspath(base)  # noqa: PTH100
    for name in declared:
        start = os.path.normpath(os.path.join(root, name))  # noqa: PTH118
        rel_start = os.path.relpath(start, root).replace(os.sep, "/")
        if os.path.isfile(start):  # noqa: PTH113
            found.append((rel_start, FileStat.of(start)))
            continue
        stack = [(start, "" if rel_start == "." else rel_start + "/")]
        while stack:
            folder, prefix = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = list(listing)
            except OSError as exc:
                hint = f"check the permissions of {folder}"
                raise DataError(f"cannot list {folder}: {exc.strerror}", hint=hint) from exc
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    if not (exclude and matches_any(rel, exclude)):
                        stack.append((entry.path, rel + "/"))
                elif entry.is_file() and not (include and not matches_any(rel, include)):
                    if exclude and matches_any(rel, exclude):
                        continue
                    st = entry.stat()
                    stat = make(
                        FileStat, (entry.path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)
                    )
                    found.append((rel, stat))
    if len(declared) > 1:  # declared paths may overlap ("data" and "data/train.csv")
        found = list(dict(found).items())
    found.sort(key=itemgetter(0))
    return found


def matches_any(rel: str, patterns: Sequence[str]) -> bool:
    """Whether a glob matches ``rel``, or its file name when the glob has no ``/``; ``**/`` may match no folder.

    Args:
        rel: A POSIX path relative to the manifest base.
        patterns: Globs.

    Returns:
        True on the first match.
    """
    if not patterns:
        return False
    name = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        if "/" not in pattern:
            if fnmatchcase(name, pattern):
                return True
        elif fnmatchcase(rel, pattern) or fnmatchcase(rel, pattern.replace("**/", "")):
            return True
    return False
