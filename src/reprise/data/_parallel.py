"""Hashing many files at once: batches on threads, or helper processes when small files are many.

Few files: a thread pool (the hash functions release the GIL; big files have their own pipeline threads). From 1,000
small files on: ``cpus - 1`` helper processes (``python -m reprise.data._hashworker``) plus the calling thread, which
hashes batches itself and, between two of them, hands the helpers new batches and collects their answers over
non-blocking pipes. One thread in this process on purpose: the per-file Python work holds the GIL, and a second thread
(hashing, or feeding a pipe) made both run at about 70 % of their speed. Not ``multiprocessing``: its spawn and
forkserver modes re-run the caller's ``__main__`` (a training script without a main guard would train again), and
fork copies the caller's threads and the locks they hold.
"""

from __future__ import annotations

import collections
import contextlib
import marshal
import os
import queue
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reprise.data import _hashworker, _readers
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from reprise.data.hashing import FileStat

__all__ = ["BATCH_BYTES", "BATCH_FILES", "PROCESS_MIN_FILES", "make_batches", "run_batches"]

#: Small files are handed out in batches of about this many bytes, or this many files.
BATCH_BYTES: Final = 4 << 20
BATCH_FILES: Final = 64
#: From this many small files on, helper processes share the work (their ~30 ms start-up is then worth it).
PROCESS_MIN_FILES: Final = 1000
#: Batches queued for each helper, so that it has the next one while this thread hashes one of its own.
_IN_FLIGHT: Final = 3
#: Every frame, both ways: this marker, a 4-byte little-endian length, a marshal payload of at most _MAX_FRAME bytes.
_MAGIC: Final = _hashworker.MAGIC
_HEAD: Final = len(_MAGIC) + 4
_MAX_FRAME: Final = 64 << 20

_Outcome = tuple[list[int], list[dict[str, str]]]


def make_batches(todo: list[int], files: Sequence[FileStat]) -> list[list[int]]:
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index in todo:
        if files[index].size >= _readers.BIG:
            batches.append([index])
            continue
        current.append(index)
        size += files[index].size
        if size >= BATCH_BYTES or len(current) >= BATCH_FILES:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


def run_batches(
    batches: list[list[int]], files: Sequence[FileStat], names: tuple[str, ...], workers: int
) -> Iterator[_Outcome]:
    """Hash the batches on ``workers`` cores; yield each with its hashes as it finishes.

    Raises:
        DataError: A file could not be read (the other workers stop early).
    """
    if not batches:
        return
    small = sum(len(batch) for batch in batches if len(batch) > 1)
    if workers > 1 and small >= PROCESS_MIN_FILES and hasattr(select, "poll"):  # no poll() on Windows pipes
        yield from _with_helpers(batches, files, names, workers - 1)
    else:
        yield from _on_threads(batches, files, names, workers)


def _pairs(files: Sequence[FileStat], batch: list[int]) -> list[tuple[str, int]]:
    return [(files[i].path, files[i].size) for i in batch]


def _on_threads(
    batches: list[list[int]], files: Sequence[FileStat], names: tuple[str, ...], workers: int
) -> Iterator[_Outcome]:
    work: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
    results: queue.SimpleQueue[tuple[list[int], list[dict[str, str]] | BaseException]] = queue.SimpleQueue()
    for batch in batches:
        work.put(batch)

    def drain() -> None:
        while (batch := work.get()) is not None:
            try:
                results.put((batch, _readers.hash_batch(_pairs(files, batch), names)))
            except BaseException as exc:  # handed to the caller's thread
                results.put((batch, exc))

    threads = [threading.Thread(target=drain, daemon=True) for _ in range(min(workers, len(batches)))]
    for thread in threads:
        work.put(None)
        thread.start()
    try:
        for _ in batches:
            batch, outcome = results.get()
            if isinstance(outcome, BaseException):
                raise outcome
            yield batch, outcome
    finally:
        while True:  # on an error, let the threads run out of work rather than finish it
            try:
                if work.get_nowait() is None:
                    work.put(None)
                    break
            except queue.Empty:
                break
        for thread in threads:
            thread.join()


def _with_helpers(
    batches: list[list[int]], files: Sequence[FileStat], names: tuple[str, ...], count: int
) -> Iterator[_Outcome]:
    """This thread hashes from the front of the work while the helpers are fed from its back."""
    todo = collections.deque(batches)
    helpers: list[_Helper] = []
    finished = False
    try:
        for _ in range(count):
            if (helper := _Helper.start()) is not None:
                helpers.append(helper)
        while todo or helpers:
            poller = select.poll()
            for helper in helpers:
                helper.feed(todo, files, names)
                poller.register(helper.reader, select.POLLIN)
                if helper.outbox:
                    poller.register(helper.writer, select.POLLOUT)
            # With work left, only look; without, sleep until a helper answers (or dies: end of file wakes us too).
            # _prune at the end of each round keeps only helpers with batches out once the work is handed out.
            ready = {fd for fd, _ in poller.poll(0 if todo else None)}
            for helper in helpers:
                if helper.writer in ready:
                    helper.flush()
                if helper.reader in ready:
                    yield from helper.collect(names)
            if todo:
                batch = todo.popleft()
                yield batch, _readers.hash_batch(_pairs(files, batch), names)
            helpers = _prune(helpers, todo)
        finished = True
    finally:
        for helper in helpers:  # after an error, or when the caller stopped early: do not wait for their batches
            helper.close(kill=not finished)


def _prune(helpers: list[_Helper], todo: collections.deque[list[int]]) -> list[_Helper]:
    """Close the helpers that died (their unanswered batches go back to ``todo``) or have nothing left to do."""
    kept = []
    for helper in helpers:
        if helper.gone:
            todo.extendleft(reversed(helper.sent))
            helper.sent.clear()
        if helper.sent or (todo and not helper.gone):
            kept.append(helper)
        else:
            helper.close(kill=helper.gone)
    return kept


class _Helper:
    """One ``python -m reprise.data._hashworker`` process, fed and read through non-blocking pipes.

    Frames both ways are a marker, a 4-byte little-endian length and a :mod:`marshal` payload (the helper is our own
    code, and marshal is the cheapest format to load): ``(names, [(path, size), ...])`` in, ``("ok", [[hex per
    name], ...])`` or ``("error", message, hint)`` out. A reply without the marker (something else printed to the
    helper's stdout) counts as the helper dying: its batches are hashed here.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.process = process
        self.writer = process.stdin.fileno()
        self.reader = process.stdout.fileno()
        os.set_blocking(self.writer, False)
        os.set_blocking(self.reader, False)
        self.sent: collections.deque[list[int]] = collections.deque()
        self.outbox = bytearray()
        self.inbox = bytearray()
        self.gone = False

    @classmethod
    def start(cls) -> _Helper | None:
        """Start a helper, or return None when no process can be started."""
        if not sys.executable or getattr(sys, "frozen", False):  # a frozen app's executable would run the app again
            return None
        source = str(Path(__file__).resolve().parents[2])  # the folder holding the reprise package
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "reprise.data._hashworker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        except OSError:
            return None
        return cls(process)

    def feed(self, todo: collections.deque[list[int]], files: Sequence[FileStat], names: tuple[str, ...]) -> None:
        """Queue batches from the back of ``todo`` until :data:`_IN_FLIGHT` are queued, and send what the pipe takes."""
        while not self.gone and todo and len(self.sent) < _IN_FLIGHT:
            batch = todo.pop()
            payload = marshal.dumps((names, _pairs(files, batch)))
            self.outbox += _MAGIC + len(payload).to_bytes(4, "little") + payload
            self.sent.append(batch)
        self.flush()

    def flush(self) -> None:
        """Write as much of the outbox as the pipe takes now."""
        while self.outbox and not self.gone:
            try:
                written = os.write(self.writer, self.outbox)
            except BlockingIOError:
                return
            except OSError:  # the helper died; collect() sees its EOF
                self.gone = True
                return
            del self.outbox[:written]

    def collect(self, names: tuple[str, ...]) -> Iterator[_Outcome]:
        """Read what the pipe holds and yield every complete answer with its batch.

        Raises:
            DataError: A file of a batch could not be read.
        """
        while True:
            try:
                data = os.read(self.reader, 1 << 16)
            except BlockingIOError:
                break
            if not data:
                self.gone = True
                break
            self.inbox += data
        while len(self.inbox) >= _HEAD:
            size = int.from_bytes(self.inbox[len(_MAGIC) : _HEAD], "little")
            if not self.inbox.startswith(_MAGIC) or size > _MAX_FRAME:  # something else wrote to its stdout
                self.gone = True
                break
            if len(self.inbox) < _HEAD + size:
                break
            reply = marshal.loads(self.inbox[_HEAD : _HEAD + size])  # noqa: S302  # our own child, private pipe
            del self.inbox[: _HEAD + size]
            batch = self.sent.popleft()
            if reply[0] == "error":
                raise DataError(reply[1], hint=reply[2])
            yield batch, [dict(zip(names, row, strict=True)) for row in reply[1]]

    def close(self, *, kill: bool = False) -> None:
        """Close both pipes and reap the helper, which exits on end of input; ``kill`` does not wait for its batch."""
        self.gone = True
        if kill:
            with contextlib.suppress(OSError):
                self.process.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
