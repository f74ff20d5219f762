"""The process side of a captured run: the command ``reprise run`` starts, what a run prints, runs left behind.

``call`` runs the wrapped command with its stdout passed through and kept, SIGINT/SIGTERM forwarded, and the command
made to die with us; ``StdoutTee`` keeps what a ``start_run`` block prints. A run whose process was killed outright
(SIGKILL, a crash, a power cut) cannot mark itself ended: each run is tagged with its owner process
(``host:pid:start time``), and the next run started on that host closes those whose owner is gone as KILLED.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reprise._process import set_parent_death_signal
from reprise.errors import CaptureError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mlflow import MlflowClient

__all__ = ["OWNER_TAG", "StdoutTee", "call", "close_abandoned", "owner"]

#: What a run printed is kept up to this many bytes.
STDOUT_BYTES: Final = 1 << 20
#: Tag naming the process that owns a RUNNING run: ``host:pid:start ticks``.
OWNER_TAG: Final = "reprise.owner"


def owner() -> str | None:
    """This process as ``host:pid:start ticks``, or None where the start time cannot be read (not Linux)."""
    ticks = _start_ticks(os.getpid())
    return None if ticks is None else f"{socket.gethostname()}:{os.getpid()}:{ticks}"


def close_abandoned(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs of this host whose owner process is gone.

    Returns:
        The run ids closed.
    """
    host = socket.gethostname().replace("'", "")
    query = f"attributes.status = 'RUNNING' and tags.`{OWNER_TAG}` LIKE '{host}:%'"
    closed = []
    for run in client.search_runs([experiment_id], query, max_results=200):
        _, pid, ticks = run.data.tags[OWNER_TAG].rsplit(":", 2)
        if pid.isdigit() and str(_start_ticks(int(pid))) != ticks:
            client.set_tag(run.info.run_id, "reprise.ended_by", "its process was gone (killed outright)")
            client.set_terminated(run.info.run_id, "KILLED")
            closed.append(run.info.run_id)
    return closed


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None: it is gone, or this is not Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19]) if len(fields) > 19 and fields[0] != "Z" else None


def call(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, bytes, int | None]:
    """Run ``argv``, passing its stdout through and keeping its first MiB, forwarding SIGINT/SIGTERM to it.

    Returns:
        The exit code, what it printed, and the signal that stopped it (None when it exited by itself).
    """
    try:
        # The command dies with us: a `reprise run` killed outright must not leave it running unobserved. The hook
        # only calls prctl (ctypes is imported already), so it is safe after fork even with threads about.
        child = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=subprocess.PIPE,
            preexec_fn=set_parent_death_signal,  # noqa: PLW1509
        )
    except OSError as exc:
        raise CaptureError(f"cannot start {argv[0]!r}: {exc.strerror}", hint="check the command and PATH") from exc
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    handlers = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    kept = bytearray()
    out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
    try:
        with child:  # closes the pipe and waits
            assert child.stdout is not None
            while chunk := os.read(child.stdout.fileno(), 65536):
                if len(kept) < STDOUT_BYTES:
                    kept += chunk[: STDOUT_BYTES - len(kept)]
                if out is not None:
                    out.write(chunk)
                    out.flush()
                else:
                    sys.stdout.write(chunk.decode(errors="replace"))
        code = child.returncode
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return code, bytes(kept), (received[0] if received else None)


class StdoutTee:
    """While active, what the process writes to ``sys.stdout`` goes there and into a buffer (its first MiB)."""

    def __init__(self) -> None:
        self._kept: list[str] = []
        self._size = 0
        self._stream: Any = None

    def __enter__(self) -> StdoutTee:
        self._stream = sys.stdout
        sys.stdout = self
        return self

    def __exit__(self, *exc: object) -> None:
        if sys.stdout is self:
            sys.stdout = self._stream

    def write(self, text: str) -> int:
        if self._size < STDOUT_BYTES:
            self._kept.append(text)
            self._size += len(text)
        written = self._stream.write(text)
        return len(text) if written is None else int(written)  # a wrapped stream (colorama) may return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def captured(self) -> bytes:
        return "".join(self._kept).encode("utf-8", errors="replace")[:STDOUT_BYTES]
