"""Objects in the local DVC cache, written by Reprise itself: copy, verify, then rename; and orphans cleaned up.

``reprise data version`` puts every file's bytes into the cache *before* DVC runs, so DVC finds them there, copies
nothing and (told not to relink) never touches the user's file: whenever the process dies, the user's file is where
it was, byte for byte. A copy is written under a temporary name that carries the writer's host and process id,
verified against the md5 the manifest recorded, made read-only (as DVC protects its objects) and renamed into place;
a process killed half-way leaves only that temporary file, which the next use removes once its writer is gone.

This module knows the cache's layout (``<cache>/<md5[:2]>/<md5[2:]>``) but does not import DVC: the paths come from
:mod:`reprise.data.dvc`.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Final

from reprise.data.hashing import hash_file
from reprise.errors import DataError, HashMismatchError

__all__ = ["MD5", "clean_orphans", "put_object"]

#: DVC's id of a file (md5 of its bytes) or of a folder listing (``<md5>.dir``).
MD5: Final = re.compile(r"[0-9a-f]{32}(\.dir)?")
#: DVC's own temporary names (``.<token>.tmp``): removed only once nothing has touched them for this long.
_DVC_TMP: Final = re.compile(r"\.[A-Za-z0-9_-]{16,64}\.tmp")
_DVC_STALE_S: Final = 3600.0
_OURS: Final = re.compile(r"\.reprise-(?P<pid>[0-9]+)-(?P<host>[0-9a-f]{12})-[0-9a-f]+\.tmp")
#: DVC's mode for cache objects: a read-only object is trusted by DVC without being hashed again.
_CACHE_MODE: Final = 0o444


def put_object(cache_path: Path, source: Path, md5: str) -> bool:
    """Copy ``source`` into the cache at ``cache_path`` if it is not there: temporary name, md5 check, rename.

    Args:
        cache_path: Where DVC keeps the object with this md5.
        source: The user's file (read only, never moved).
        md5: The md5 the manifest recorded for ``source``.

    Returns:
        True when a copy was made, False when the cache had the object already.

    Raises:
        HashMismatchError: ``source`` changed since it was hashed (nothing is added).
        DataError: The cache cannot be written.
    """
    if cache_path.is_file():
        return False
    tmp = cache_path.parent / f".reprise-{os.getpid()}-{_host()}-{secrets.token_hex(8)}.tmp"
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, tmp)
        copied = hash_file(tmp, ("md5",))["md5"]
        if copied != md5:
            raise HashMismatchError(
                f"{source} changed while it was being versioned (md5 {md5} then {copied})",
                hint=f"stop what writes {source}, then version it again",
            )
        tmp.chmod(_CACHE_MODE)
        tmp.replace(cache_path)
    except OSError as exc:
        raise DataError(
            f"cannot add {source} to the DVC cache {cache_path.parent}: {exc.strerror}",
            hint="check the free space and permissions of .dvc/cache",
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return True


def clean_orphans(cache_dir: Path) -> list[Path]:
    """Remove temporary files a killed writer left in the cache.

    Reprise's own (``.reprise-<pid>-<host>-<token>.tmp``) go as soon as their process is gone from this host;
    DVC's (``.<token>.tmp``) once nothing has modified them for an hour (they carry no owner, and another
    repository may share this cache).

    Args:
        cache_dir: The cache's object folder (``.dvc/cache/files/md5``).

    Returns:
        The files removed.
    """
    removed: list[Path] = []
    now = time.time()
    for entry in _temporaries(cache_dir):
        if _is_orphan(entry, now):
            try:
                Path(entry.path).unlink()
            except OSError:  # gone meanwhile, or not ours to remove: it only costs space
                continue
            removed.append(Path(entry.path))
    return removed


def _temporaries(cache_dir: Path) -> list[os.DirEntry[str]]:
    """Hidden ``*.tmp`` files in the two-letter folders of the cache (none when it cannot be listed)."""
    found: list[os.DirEntry[str]] = []
    try:
        with os.scandir(cache_dir) as prefixes:
            folders = [entry.path for entry in prefixes if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False)]
        for folder in folders:
            with os.scandir(folder) as listing:
                found += [entry for entry in listing if entry.name.startswith(".") and entry.name.endswith(".tmp")]
    except OSError:  # no cache yet, or not readable: nothing to clean, and DVC reports a real problem itself
        return found
    return found


def _is_orphan(entry: os.DirEntry[str], now: float) -> bool:
    ours = _OURS.fullmatch(entry.name)
    if ours is not None:
        return ours["host"] == _host() and not _alive(int(ours["pid"]))
    if _DVC_TMP.fullmatch(entry.name):
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            return False
        return now - max(info.st_mtime, info.st_ctime) > _DVC_STALE_S
    return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12]
