"""Walking folders for manifests: which files are selected, named how (POSIX paths relative to a base).

os.scandir and os.path, not pathlib: this runs once per file, and on 10,000 files Path objects cost more than the
system calls.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module
from fnmatch import fnmatchcase
from operator import itemgetter
from typing import TYPE_CHECKING

from reprise.data.hashing import FileStat
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["check_regular", "collect", "kind_of", "matches_any"]

_KINDS = {
    stat_module.S_IFIFO: "a FIFO (named pipe)",
    stat_module.S_IFSOCK: "a socket",
    stat_module.S_IFCHR: "a character device",
    stat_module.S_IFBLK: "a block device",
}


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
        DataError: A folder cannot be listed, or a FIFO, socket, device or symlink loop is selected (never opened).
    """
    found: list[tuple[str, FileStat]] = []
    make = tuple.__new__  # FileStat's generated __new__ is Python code; this is the same tuple, built in C
    root = os.path.abspath(base)  # noqa: PTH100
    for name in declared:
        start = os.path.normpath(os.path.join(root, name))  # noqa: PTH118
        rel_start = os.path.relpath(start, root).replace(os.sep, "/")
        if kind_of(start) == "file":
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
                    continue
                if (include and not matches_any(rel, include)) or (exclude and matches_any(rel, exclude)):
                    continue
                if not _is_regular(entry):
                    continue
                st = entry.stat()
                stat = make(FileStat, (entry.path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode))
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


def check_regular(path: str, mode: int) -> None:
    """Refuse anything but a regular file (``mode`` from ``stat``/``fstat``): a FIFO, socket or device.

    Args:
        path: The path, for the message.
        mode: Its ``st_mode``.

    Raises:
        DataError: ``path`` is not a regular file.
    """
    if not stat_module.S_ISREG(mode):
        kind = _KINDS.get(stat_module.S_IFMT(mode), "not a regular file")
        raise DataError(
            f"{path} is {kind}: Reprise hashes and versions regular files only, and never opens it",
            hint=f"move {path} out of the data folder (or --exclude it from a manifest)",
        )


def _is_regular(entry: os.DirEntry[str]) -> bool:
    """Whether a listed entry (not a folder) is a regular file, or a symlink to one.

    A FIFO, socket, device or symlink loop is refused, never opened (opening a FIFO blocks a reader forever); a
    dangling symlink or a symlink to a folder is skipped.

    Raises:
        DataError: The entry is a FIFO, socket, device or symlink loop.
    """
    try:
        if entry.is_file():
            return True
    except OSError:  # a symlink loop: stat follows it until ELOOP
        pass
    kind_of(entry.path)
    return False


def kind_of(path: str) -> str:
    """``file``, ``dir`` or ``missing`` (also a dangling symlink) for ``path``, following symlinks.

    Args:
        path: Any path.

    Returns:
        What it is.

    Raises:
        DataError: ``path`` is a symlink loop, or a FIFO, socket or device.
    """
    try:
        mode = os.stat(path).st_mode  # noqa: PTH116
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(
                f"{path} is a symlink loop (it points back at itself)",
                hint=f"remove or fix the link: ls -l {path}",
            ) from exc
        return "missing"
    if stat_module.S_ISDIR(mode):
        return "dir"
    check_regular(path, mode)
    return "file"
