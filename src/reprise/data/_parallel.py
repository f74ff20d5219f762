"""Hashing many files at once: batches on threads, and helper processes when small files are many.

Few small files: a thread pool (the hash functions release the GIL). From 1,000 on: one thread here plus
``cpus - 1`` helper processes (``python -m reprise.data._hashworker``, fed batches over a pipe by a thread that mostly
waits), because the per-file Python work holds the GIL long enough to idle a second thread (on two cores, about 1.5x
for threads against 1.8x for processes). Not ``multiprocessing``: its spawn and forkserver modes re-run the caller's
``__main__`` (a training script without a main guard would train again), and fork copies the caller's threads and
the locks they hold.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reprise.data import _readers
from reprise.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from reprise.data.hashing import FileStat

__all__ = ["BATCH_BYTES", "BATCH_FILES", "PROCESS_MIN_FILES", "make_batches", "run_batches"]

#: Small files are handed out in batches of about this many bytes, or this many files.
BATCH_BYTES: Final = 4 << 20
BATCH_FILES: Final = 64
#: From this many small files on, helper processes share the work (their ~50 ms start-up is then worth it).
PROCESS_MIN_FILES: Final = 1000


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
) -> Iterator[tuple[list[int], list[dict[str, str]]]]:
    """Hash the batches on threads (and helper processes when there are many small files); yield as they finish.

    With many small files the per-file Python work holds the GIL long enough to keep a second thread waiting, so
    all but one of the workers are then helper processes (each fed by a thread that mostly waits on a pipe) and the
    one left hashes in this process: every core busy, no GIL between them.
    """
    if not batches:
        return
    small = sum(len(batch) for batch in batches if len(batch) > 1)
    helpers = workers - 1 if workers > 1 and small >= PROCESS_MIN_FILES else 0
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
            results.put((batch, _readers.hash_batch([(files[i].path, files[i].size) for i in batch], names)))
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
                    hashes = _readers.hash_batch(pairs, names)
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
