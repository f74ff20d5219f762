"""A helper process for :func:`reprise.data.hashing.hash_files`: hashes batches of small files off the GIL.

Started as ``python -m reprise.data._hashworker`` (never through ``multiprocessing``, whose spawn and forkserver
modes re-run the caller's ``__main__`` and whose fork mode copies the caller's threads and locks). It reads frames
(:data:`MAGIC`, a 4-byte little-endian length, a :mod:`marshal` payload) ``(names, [(path, size), ...])`` from
stdin and answers each with ``("ok", [[hex per name], ...])`` or ``("error", message, hint)``; it exits when stdin
closes or its reader goes away. Its imports are kept few: its start-up is paid on every large hashing job.
"""

from __future__ import annotations

import marshal
import os
import sys

from reprise.data._readers import hash_batch
from reprise.errors import DataError

__all__ = ["MAGIC", "main"]

#: The start of every frame, both ways: a reply without it means something else wrote to the helper's stdout.
MAGIC = b"RH1"


def main() -> int:
    """Serve hash requests from stdin until it closes (or stops mid-frame: the caller went away).

    Returns:
        The exit code (0).
    """
    source = sys.stdin.buffer
    head = len(MAGIC) + 4
    while len(header := source.read(head)) == head and header.startswith(MAGIC):
        size = int.from_bytes(header[len(MAGIC) :], "little")
        body = source.read(size)
        if len(body) != size:
            return 0
        # marshal is safe here: the frames come from the parent process over a private pipe.
        names, files = marshal.loads(body)  # noqa: S302
        try:
            done = hash_batch(files, names)
            reply: tuple[str, list[list[str]]] | tuple[str, str, str | None] = (
                "ok",
                [[hashes[name] for name in names] for hashes in done],
            )
        except DataError as exc:
            reply = ("error", exc.message, exc.hint)
        payload = marshal.dumps(reply)
        try:
            _write_all(MAGIC + len(payload).to_bytes(4, "little") + payload)
        except BrokenPipeError:  # the caller stopped listening (it hit an error elsewhere)
            return 0
    return 0


def _write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


if __name__ == "__main__":
    # Nothing is buffered (answers go out through os.write), so skip the interpreter's teardown: ~10 ms per job.
    os._exit(main())
