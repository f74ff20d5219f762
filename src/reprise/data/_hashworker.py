"""A helper process for :func:`reprise.data.hashing.hash_files`: hashes batches of small files off the GIL.

Started as ``python -m reprise.data._hashworker`` (never through ``multiprocessing``, whose spawn and forkserver
modes re-run the caller's ``__main__`` and whose fork mode copies the caller's threads and locks). Protocol, one
JSON line each way per batch: ``{"names": [...], "files": [[path, size], ...]}`` in, ``{"hashes": [[hex per name],
...]}`` or ``{"error": message, "hint": hint}`` out. It exits when its stdin closes.
"""

from __future__ import annotations

import json
import sys

from reprise.data._readers import hash_batch
from reprise.errors import DataError

__all__ = ["main"]


def main() -> int:
    """Serve hash requests from stdin until it closes.

    Returns:
        The exit code (0).
    """
    for line in sys.stdin:
        request = json.loads(line)
        names = tuple(request["names"])
        try:
            done = hash_batch([(path, size) for path, size in request["files"]], names)
            reply: dict[str, object] = {"hashes": [[hashes[name] for name in names] for hashes in done]}
        except DataError as exc:
            reply = {"error": exc.message, "hint": exc.hint}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
