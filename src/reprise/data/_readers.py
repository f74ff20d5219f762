"""Reading and hashing one file: one read pass for every algorithm; big files through a threaded pipeline.

A big file is read in 4 MiB chunks into three recycled buffers while one thread per algorithm hashes each chunk
(hashlib and blake3 release the GIL), so md5+sha256 costs about what md5 alone costs on two cores, and reading
overlaps hashing even for one algorithm. A small file is read in one call into a buffer each thread reuses.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import queue
import stat
import threading

from reprise.errors import DataError

TYPE_CHECKING = False  # as in reprise/__init__.py: helper processes import this module and start faster without typing
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Final, Protocol

    class _Hasher(Protocol):
        def update(self, data: bytes | memoryview, /) -> object: ...

        def hexdigest(self) -> str: ...


__all__ = ["BIG", "CHUNK", "hash_batch", "hash_one"]

CHUNK: Final = 4 << 20
#: Files at least this big are hashed through the threaded pipeline; smaller ones in one read.
BIG: Final = 16 << 20

#: O_NONBLOCK: opening a FIFO that replaced a file since it was listed must not block; reads of regular files
#: ignore the flag, and anything else is refused right after the open (fstat), before a byte is read.
_OPEN_FLAGS: Final = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
_THREAD = threading.local()


@functools.cache
def _makers(names: tuple[str, ...], *, big: bool) -> tuple[Callable[[], _Hasher], ...]:
    """Constructors of fresh hashers for checked algorithm names (blake3 may use every core on a big file)."""
    makers: list[Callable[[], _Hasher]] = []
    for name in names:
        if name == "blake3":
            from blake3 import blake3

            # blake3 splits a big update across cores itself; on small inputs threads only cost.
            makers.append(functools.partial(blake3, max_threads=blake3.AUTO if big else 1))
        else:
            makers.append(functools.partial(getattr(hashlib, name), usedforsecurity=False))
    return tuple(makers)


if hasattr(os, "readv"):

    def _read_into(fd: int, view: memoryview) -> int:
        return os.readv(fd, [view])

else:  # Windows

    def _read_into(fd: int, view: memoryview) -> int:
        with io.FileIO(fd, "rb", closefd=False) as handle:
            return handle.readinto(view) or 0


def _buffer() -> memoryview:
    """This thread's read buffer: reused for every small file, so reading allocates nothing and stays in cache."""
    view: memoryview | None = getattr(_THREAD, "view", None)
    if view is None:
        view = _THREAD.view = memoryview(bytearray(CHUNK))
    return view


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
    makers, view = _makers(names, big=False), _buffer()
    return [_hash(path, size, names, makers, view) for path, size in batch]


def hash_one(path: str, size: int, names: tuple[str, ...]) -> dict[str, str]:
    """Hash one file (of ``size`` bytes when stat'ed) with every algorithm in ``names`` in one read pass.

    Raises:
        DataError: The file cannot be opened or read.
    """
    return _hash(path, size, names, _makers(names, big=False), _buffer())


def _hash(
    path: str, size: int, names: tuple[str, ...], makers: tuple[Callable[[], _Hasher], ...], view: memoryview
) -> dict[str, str]:
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        hint = f"check that {path} exists and is readable"
        raise DataError(f"cannot read {path}: {exc.strerror}", hint=hint) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DataError(
                f"{path} is not a regular file (a FIFO, socket or device): Reprise never reads one",
                hint=f"move {path} out of the data folder",
            )
        if size >= BIG:
            return _hash_pipelined(fd, names)
        hashers = [make() for make in makers]
        # Reading size + 1 bytes answers a small file in one call and proves it ended; a file that grew is read on.
        want = min(size + 1, CHUNK)
        while count := _read_into(fd, view[:want]):
            data = view[:count]
            for hasher in hashers:
                hasher.update(data)
            if count < want:
                break
            want = CHUNK
        return dict(zip(names, [hasher.hexdigest() for hasher in hashers], strict=True))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}", hint=f"check that {path} is readable") from exc
    finally:
        os.close(fd)


class _Chunk:
    """One chunk read from a big file, shared by the hashing threads until the last one hands its buffer back."""

    __slots__ = ("buffer", "lock", "pending", "view")

    def __init__(self, buffer: bytearray, view: memoryview, pending: int) -> None:
        self.buffer = buffer
        self.view = view
        self.pending = pending
        self.lock = threading.Lock()


def _hash_pipelined(fd: int, names: tuple[str, ...]) -> dict[str, str]:
    """Read ``fd`` once into recycled buffers while one thread per algorithm hashes each chunk."""
    hashers = [make() for make in _makers(names, big=True)]
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _ in range(3):
        free.put(bytearray(CHUNK))
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
