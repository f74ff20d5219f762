"""Content hashes of files: several algorithms in one read pass, many files at once, unchanged files from a cache.

* One pass: every file is read once, whatever the number of algorithms; big files through a threaded pipeline
  that hashes each algorithm on its own core (:mod:`reprise.data._readers`).
* Many files at once: batches on threads, and helper processes when small files are many
  (:mod:`reprise.data._parallel`, which says why not ``multiprocessing``).
* Stat cache: ``<project>/.reprise/hashcache.db`` maps (path, inode, size, mtime_ns, ctime_ns) to hashes, so an
  unchanged file is never read twice. A file modified less than two seconds before it was read is not cached (the
  "racy git" rule: a change within the timestamp granularity would otherwise go unseen). ``rehash=True`` ignores
  the cache (and refreshes it), which is how a corrupted cache is caught.

Example:
    >>> from reprise.data.hashing import FileStat, hash_files
    >>> result = hash_files([FileStat.of(Path("data.csv"))], ("md5", "sha256"))   # doctest: +SKIP
    >>> result.hashes[0]["sha256"]                                                   # doctest: +SKIP
    '9f86d0...'
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NamedTuple

from reprise.data._parallel import make_batches, run_batches
from reprise.data._readers import hash_one
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

    from reprise.data.hashcache import HashCache

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "FileStat",
    "HashResult",
    "check_algorithms",
    "hash_file",
    "hash_files",
    "is_settled",
]

#: Every algorithm Reprise can compute.
ALGORITHMS: Final = ("blake3", "md5", "sha1", "sha256", "sha512")
#: md5 is DVC's identity of a file (so a manifest points into the DVC cache); sha256 is the strong one.
DEFAULT_ALGORITHMS: Final = ("md5", "sha256")

#: A file whose mtime is this close to the moment it was read is not cached (timestamp granularity).
_RACY_NS: Final = 2_000_000_000


def check_algorithms(algorithms: Iterable[str]) -> tuple[str, ...]:
    """Return ``algorithms`` lower-cased, de-duplicated and sorted.

    Args:
        algorithms: Names among :data:`ALGORITHMS`.

    Returns:
        The sorted tuple of names.

    Raises:
        DataError: A name is unknown, or none was given.
    """
    names = tuple(sorted({name.strip().lower() for name in algorithms}))
    unknown = [name for name in names if name not in ALGORITHMS]
    if unknown or not names:
        raise DataError(
            f"unknown hash algorithm {', '.join(unknown) or '(none given)'}",
            hint=f"choose among {', '.join(ALGORITHMS)}, e.g. --algo sha256",
        )
    return names


class FileStat(NamedTuple):
    """What the stat cache keys on: where a file is and the stat fields that change when its bytes do.

    A named tuple, not a dataclass: one is built per file, and on 10,000 files that shows.

    Attributes:
        path: Absolute path.
        size: Size in bytes.
        mtime_ns: Modification time in nanoseconds.
        ctime_ns: Status-change time in nanoseconds (moves when mtime is reset by hand).
        inode: Inode number (changes when an editor replaces the file).
        mode: ``st_mode`` (permissions are reported, not keyed on).
    """

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    mode: int

    @classmethod
    def of(cls, path: Path | str, result: os.stat_result | None = None) -> FileStat:
        """Stat ``path`` (or use ``result``) and return its key.

        Args:
            path: The file.
            result: Its stat result, when the caller has it already.

        Returns:
            The file's stat key.

        Raises:
            DataError: The file cannot be stat'ed.
        """
        name = os.path.abspath(path)  # noqa: PTH100  # a string, like every path in the hot loop
        if result is None:
            try:
                result = os.stat(name)  # noqa: PTH116
            except OSError as exc:
                raise DataError(f"cannot read {path}: {exc.strerror}", hint=f"check that {path} exists") from exc
        return cls(name, result.st_size, result.st_mtime_ns, result.st_ctime_ns, result.st_ino, result.st_mode)

    @property
    def key(self) -> tuple[int, int, int, int]:
        """The fields that must all be equal for a cached hash to be trusted."""
        return (self.inode, self.size, self.mtime_ns, self.ctime_ns)


@dataclass
class HashResult:
    """Hashes of a list of files, in the order given, and what it took.

    Attributes:
        hashes: One ``{algorithm: hexdigest}`` per file.
        files_read: Files actually read (the others came from the cache).
        bytes_read: Bytes actually read.
        cache_hits: Files answered by the stat cache.
        seconds: Wall time.
    """

    hashes: list[dict[str, str]]
    files_read: int = 0
    bytes_read: int = 0
    cache_hits: int = 0
    seconds: float = 0.0


def hash_file(path: Path | str, algorithms: Iterable[str] = DEFAULT_ALGORITHMS) -> dict[str, str]:
    """Hash one file with every algorithm in ``algorithms`` in a single read pass (no cache).

    Args:
        path: The file.
        algorithms: Names among :data:`ALGORITHMS`.

    Returns:
        ``{algorithm: hexdigest}``.

    Raises:
        DataError: The file cannot be read or an algorithm is unknown.
    """
    stat = FileStat.of(path)
    return hash_one(stat.path, stat.size, check_algorithms(algorithms))


def hash_files(
    files: Sequence[FileStat],
    algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
    *,
    cache: HashCache | None = None,
    rehash: bool = False,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> HashResult:
    """Hash many files: cached ones from ``cache``, the rest in parallel, each in one read pass.

    Args:
        files: The files (from :meth:`FileStat.of`).
        algorithms: Names among :data:`ALGORITHMS`.
        cache: The stat cache to read and update; None hashes everything and stores nothing.
        rehash: Ignore what the cache holds (and overwrite it with what is read now).
        workers: Threads for small files (default: the number of CPUs).
        on_progress: Called as ``on_progress(bytes_done, bytes_total)`` from the calling thread.

    Returns:
        The hashes, in the order of ``files``.

    Raises:
        DataError: A file cannot be read (vanished, no permission) or an algorithm is unknown.
    """
    names = check_algorithms(algorithms)
    started = time.perf_counter()
    started_ns = time.time_ns()
    result = HashResult(hashes=[{} for _ in files])
    total = sum(stat.size for stat in files)
    done = 0
    cached = cache.lookup(files, names) if cache is not None and not rehash else {}
    todo: list[int] = []
    for index, stat in enumerate(files):
        hit = cached.get(stat.path)
        if hit is not None:
            result.hashes[index] = hit
            result.cache_hits += 1
            done += stat.size
        else:
            todo.append(index)
    if on_progress is not None:
        on_progress(done, total)
    batches = make_batches(todo, files)
    for batch, hashes in run_batches(batches, files, names, workers or os.cpu_count() or 1):
        for index, found in zip(batch, hashes, strict=True):
            result.hashes[index] = found
            result.files_read += 1
            result.bytes_read += files[index].size
            done += files[index].size
        if on_progress is not None:
            on_progress(done, total)
    if cache is not None:
        fresh = [(files[i], result.hashes[i]) for i in todo if is_settled((files[i],), started_ns)]
        cache.store(fresh)
    result.seconds = time.perf_counter() - started
    return result


def is_settled(files: Iterable[FileStat], started_ns: int) -> bool:
    """Whether every file was last modified well before ``started_ns`` (wall clock), so its hash may be cached.

    A file modified within the timestamp granularity of the moment it was read could change again without its
    mtime moving (the "racy git" problem); such files are hashed again next time instead of trusted.

    Args:
        files: The files.
        started_ns: ``time.time_ns()`` taken before they were read.

    Returns:
        True when no file is that recent.
    """
    return all(stat.mtime_ns < started_ns - _RACY_NS for stat in files)
