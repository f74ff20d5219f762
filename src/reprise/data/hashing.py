"""Content hashes of files: several algorithms in one read pass, many files at once, unchanged files from a cache.

* One pass: every file is read once, whatever the number of algorithms. A big file is read in 4 MiB chunks into
  recycled buffers and each algorithm hashes on its own thread (hashlib and blake3 release the GIL), so md5+sha256
  costs about as much as md5 alone on two cores, and reading overlaps hashing even for one algorithm.
* Many files: small files are hashed in batches. Few of them: on a thread pool (the hash functions release the
  GIL). From 1,000 on: one thread here plus ``cpus - 1`` helper processes (``python -m reprise.data._hashworker``,
  fed batches over a pipe), because the per-file Python work holds the GIL long enough to idle a second thread
  (measured in bench/bench_hashing.py: about 1.5x for threads against 1.8x for processes on two cores). Not
  ``multiprocessing``: its spawn and forkserver modes re-run the caller's ``__main__`` (a training script without a
  main guard would train again) and fork copies the caller's threads and their locks.
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

import contextlib
import hashlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from reprise.data.hashcache import HashCache

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "FileStat",
    "HashResult",
    "check_algorithms",
    "hash_batch",
    "hash_file",
    "hash_files",
    "is_settled",
]

#: Every algorithm Reprise can compute.
ALGORITHMS: Final = ("blake3", "md5", "sha1", "sha256", "sha512")
#: md5 is DVC's identity of a file (so a manifest points into the DVC cache); sha256 is the strong one.
DEFAULT_ALGORITHMS: Final = ("md5", "sha256")

_CHUNK: Final = 4 << 20
#: Files at least this big are hashed through the threaded pipeline; smaller ones in one read.
_BIG: Final = 16 << 20
#: Small files are handed to the pool in batches of about this many bytes.
_BATCH_BYTES: Final = 4 << 20
_BATCH_FILES: Final = 64
#: From this many small files on, helper processes share the work (their ~50 ms start-up is then worth it).
_PROCESS_MIN_FILES: Final = 1000
#: A file whose mtime is this close to the moment it was read is not cached (timestamp granularity).
_RACY_NS: Final = 2_000_000_000


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


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


def _new_hasher(name: str, *, big: bool) -> _Hasher:
    if name == "blake3":
        from blake3 import blake3

        # blake3 splits a big update across cores itself; on small inputs threads only cost.
        return blake3(max_threads=blake3.AUTO if big else 1)
    constructor: Callable[..., _Hasher] = getattr(hashlib, name)
    return constructor(usedforsecurity=False)


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
    return _hash_one(stat.path, stat.size, check_algorithms(algorithms))


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
    batches = _batches(todo, files)
    for batch, hashes in _run(batches, files, names, workers or os.cpu_count() or 1):
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


def hash_batch(batch: Sequence[tuple[str, int]], names: tuple[str, ...]) -> list[dict[str, str]]:
    """Hash ``(path, size)`` pairs one after the other, each in one read pass (used by the helper processes).

    Args:
        batch: Absolute paths and their sizes.
        names: Checked algorithm names.

    Returns:
        ``{algorithm: hexdigest}`` per file.

    Raises:
        DataError: A file cannot be read.
    """
    return [_hash_one(path, size, names) for path, size in batch]


def _run(
    batches: list[list[int]], files: Sequence[FileStat], names: tuple[str, ...], workers: int
) -> Iterator[tuple[list[int], list[dict[str, str]]]]:
    """Hash the batches on threads (and helper processes when there are many small files); yield as they finish.

    With many small files the per-file Python work holds the GIL long enough to keep a second thread waiting, so
    all but one of the workers are then helper processes (each fed by a thread that mostly waits on a pipe) and the
    one left hashes in this process: every core busy, no GIL between them.
    """
    if not batches:
        return
    small = sum(len(batch) for batch in batches if len(batch) > 1)
    helpers = workers - 1 if workers > 1 and small >= _PROCESS_MIN_FILES else 0
    work: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
    results: queue.SimpleQueue[tuple[list[int], list[dict[str, str]] | BaseException]] = queue.SimpleQueue()
    for batch in batches:
        work.put(batch)
    threads = [
        threading.Thread(target=_local, args=(work, results, files, names), daemon=True)
        for _ in range(workers - helpers)
    ]
    threads += [
        threading.Thread(target=_remote, args=(work, results, files, names), daemon=True) for _ in range(helpers)
    ]
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.start()
    try:
        for _ in batches:
            batch, outcome = results.get()
            if isinstance(outcome, BaseException):
                raise outcome
            yield batch, outcome
    finally:
        while True:  # on an error, let the workers run out of work rather than finish it
            try:
                if work.get_nowait() is None:
                    work.put(None)
                    break
            except queue.Empty:
                break
        for thread in threads:
            thread.join()


def _local(
    work: queue.SimpleQueue[list[int] | None],
    results: queue.SimpleQueue[tuple[list[int], list[dict[str, str]] | BaseException]],
    files: Sequence[FileStat],
    names: tuple[str, ...],
) -> None:
    while (batch := work.get()) is not None:
        try:
            results.put((batch, hash_batch([(files[i].path, files[i].size) for i in batch], names)))
        except BaseException as exc:  # handed to the caller's thread
            results.put((batch, exc))


def _remote(
    work: queue.SimpleQueue[list[int] | None],
    results: queue.SimpleQueue[tuple[list[int], list[dict[str, str]] | BaseException]],
    files: Sequence[FileStat],
    names: tuple[str, ...],
) -> None:
    helper = _Helper.start()
    try:
        while (batch := work.get()) is not None:
            pairs = [(files[i].path, files[i].size) for i in batch]
            try:
                hashes = helper.hash(pairs, names) if helper is not None else None
                if hashes is None:  # no helper (it could not start or died): do the work here
                    helper = None
                    hashes = hash_batch(pairs, names)
                results.put((batch, hashes))
            except BaseException as exc:
                results.put((batch, exc))
    finally:
        if helper is not None:
            helper.close()


class _Helper:
    """One ``python -m reprise.data._hashworker`` process and its pipes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    @classmethod
    def start(cls) -> _Helper | None:
        source = str(Path(__file__).resolve().parents[2])  # the folder holding the reprise package
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "reprise.data._hashworker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                encoding="ascii",
                env=env,
            )
        except OSError:
            return None
        return cls(process)

    def hash(self, batch: list[tuple[str, int]], names: tuple[str, ...]) -> list[dict[str, str]] | None:
        """The hashes of ``batch``, or None when the helper is gone.

        Raises:
            DataError: A file could not be read.
        """
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps({"names": names, "files": batch}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (OSError, ValueError):
            return None
        if not line:
            return None
        reply = json.loads(line)
        if "error" in reply:
            raise DataError(reply["error"], hint=reply.get("hint"))
        return [dict(zip(names, row, strict=True)) for row in reply["hashes"]]

    def close(self) -> None:
        """Close the pipes; the helper exits on end of input."""
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _batches(todo: list[int], files: Sequence[FileStat]) -> list[list[int]]:
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index in todo:
        if files[index].size >= _BIG:
            batches.append([index])
            continue
        current.append(index)
        size += files[index].size
        if size >= _BATCH_BYTES or len(current) >= _BATCH_FILES:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


def _hash_one(path: str, size: int, names: tuple[str, ...]) -> dict[str, str]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        hint = f"check that {path} exists and is readable"
        raise DataError(f"cannot read {path}: {exc.strerror}", hint=hint) from exc
    try:
        if size >= _BIG:
            return _hash_pipelined(fd, names)
        hashers = [_new_hasher(name, big=False) for name in names]
        # One read of size + 1 bytes answers a small file and proves it ended; a file that grew is read on.
        want = size + 1 if size < _CHUNK else _CHUNK
        while data := os.read(fd, want):
            for hasher in hashers:
                hasher.update(data)
            if len(data) < want:
                break
            want = _CHUNK
        return {name: hasher.hexdigest() for name, hasher in zip(names, hashers, strict=True)}
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}", hint=f"check that {path} is readable") from exc
    finally:
        os.close(fd)


@dataclass
class _Chunk:
    buffer: bytearray
    view: memoryview
    pending: int
    lock: threading.Lock = field(default_factory=threading.Lock)


def _hash_pipelined(fd: int, names: tuple[str, ...]) -> dict[str, str]:
    """Read ``fd`` once into recycled buffers while one thread per algorithm hashes each chunk."""
    hashers = [_new_hasher(name, big=True) for name in names]
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _ in range(3):
        free.put(bytearray(_CHUNK))
    inboxes: list[queue.SimpleQueue[_Chunk | None]] = [queue.SimpleQueue() for _ in hashers]
    errors: list[BaseException] = []

    def consume(hasher: _Hasher, inbox: queue.SimpleQueue[_Chunk | None]) -> None:
        while (chunk := inbox.get()) is not None:
            try:
                hasher.update(chunk.view)
            except BaseException as exc:  # pragma: no cover - hash functions do not fail on bytes
                errors.append(exc)
            with chunk.lock:
                chunk.pending -= 1
                last = chunk.pending == 0
            if last:
                chunk.view.release()
                free.put(chunk.buffer)

    threads = [
        threading.Thread(target=consume, args=(hasher, inbox), daemon=True)
        for hasher, inbox in zip(hashers, inboxes, strict=True)
    ]
    for thread in threads:
        thread.start()
    try:
        with os.fdopen(os.dup(fd), "rb", buffering=0) as handle:
            while True:
                buffer = free.get()
                count = handle.readinto(buffer)
                if not count:
                    free.put(buffer)
                    break
                chunk = _Chunk(buffer, memoryview(buffer)[:count], len(hashers))
                for inbox in inboxes:
                    inbox.put(chunk)
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return {name: hasher.hexdigest() for name, hasher in zip(names, hashers, strict=True)}
