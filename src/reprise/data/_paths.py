"""Paths that come from somewhere else (a store row, a record, a ``.dvc`` file): resolved and kept inside a root.

A metadata-store row, a manifest or a ``.dvc`` text is data, and data can be crafted: ``../x`` or ``/tmp/x`` in one
must never make Reprise read or write outside the folder it belongs to. Every such path goes through
:func:`inside`, the one check of data/.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Final

from reprise.errors import DataError

__all__ = ["check_gitignore_safe", "inside"]

#: Control characters: a newline would split a ``.gitignore`` entry in two (and git has no escape for it).
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def inside(root: Path, path: str | Path, *, what: str) -> Path:
    """``root / path`` resolved (symlinks followed), checked to stay inside ``root``.

    Args:
        root: The folder ``path`` must stay in (the project root, a version's folder, the DVC cache...).
        path: A relative path from untrusted data; an absolute one is accepted only when it points inside ``root``.
        what: What the path is, for the message (``data version 'v1': path``).

    Returns:
        The resolved absolute path.

    Raises:
        DataError: The path is empty, holds a NUL byte, or resolves outside ``root``.

    Example:
        >>> inside(Path("/proj"), "data/train.csv", what="path")  # doctest: +SKIP
        PosixPath('/proj/data/train.csv')
    """
    text = str(path)
    base = Path(root).resolve()
    hint = "the record was edited or crafted: version the data again, or remove the record"
    if not text or "\x00" in text:
        raise DataError(f"{what} {text!r} is not a valid path", hint=hint)
    resolved = (base / path).resolve()
    if not resolved.is_relative_to(base):
        raise DataError(f"{what} {text!r} points outside {base}; refusing to touch it", hint=hint)
    return resolved


def check_gitignore_safe(relative: str) -> None:
    """Refuse a path whose ``.gitignore`` entry could not be written faithfully (a newline or control character).

    DVC ignores a versioned path by appending ``/<name>`` to the ``.gitignore`` next to it, escaping wildcards; a
    newline cannot be escaped in ``.gitignore`` and would turn the rest of the name into a pattern of its own.

    Args:
        relative: The path relative to the project root (POSIX).

    Raises:
        DataError: A component holds a control character.
    """
    for part in PurePosixPath(relative).parts:
        if _CONTROL.search(part):
            raise DataError(
                f"cannot version {relative!r}: its name holds a newline or control character, which .gitignore "
                "cannot express",
                hint="rename it (e.g. mv with a name without control characters), then version it",
            )
