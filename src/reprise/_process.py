"""Child processes that die with their parent: the one place that asks the kernel for it.

A process Reprise starts (the command of ``reprise run``, a ``reprise serve`` worker) must not outlive Reprise when
Reprise is killed outright (SIGKILL, an OOM kill): nobody would be left to stop it. On Linux the child asks, before
anything else, to be sent a signal when its parent dies (``prctl(PR_SET_PDEATHSIG)``).
"""

from __future__ import annotations

import ctypes  # here, not in the function: it runs in a forked child, where an import could wait on a lock
import signal
import sys
from typing import Final

__all__ = ["set_parent_death_signal"]

_PR_SET_PDEATHSIG: Final = 1


def set_parent_death_signal(signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies.

    Returns:
        Whether the kernel took the request (False off Linux: the caller then needs another way).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
