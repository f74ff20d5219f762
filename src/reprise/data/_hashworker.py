"""A helper process for :func:`reprise.data.hashing.hash_files`: hashes batches of small files off the GIL.

Started as ``python -m reprise.data._hashworker`` (never through ``multiprocessing``, whose spawn and forkserver
modes re-run the caller's ``__main__`` and whose fork mode copies the caller's threads and locks). It reads frames
(a 4-byte little-endian length, then a :mod:`marshal` payload) ``(names, [(path, size), ...])`` from stdin and
answers each with ``("ok", [[hex per name], ...])`` or ``("error", message, hint)``; it exits when stdin closes or
its reader goes away. Its imports are kept few: its start-up is paid on every large hashing job.
"""

from __future__ import annotations

import marshal
import os
import sys

from reprise.data._readers import hash_batch
from reprise.errors import DataError

__all__ = ["main"]


def main() -> int:
    """Serve hash requests from stdin until it closes.

    Returns:
        The exit code (0).
    """
    source = sys.stdin.buffer
    while len(header := source.read(4)) == 4:
        # marshal is safe here: the frames come from the parent process over a private pipe.
        names, files = marshal.loads(source.read(int.from_bytes(header, "little")))  # noqa: S302
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
            _write_all(len(payload).to_bytes(4, "little") + payload)
        except BrokenPipeError:  # the caller stopped listening (it hit an error elsewhere)
            return 0
    return 0


def _write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


if __name__ == "__main__":
    raise SystemExit(main())
