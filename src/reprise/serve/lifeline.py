"""Workers die with their parent: ``reprise serve --workers N`` must not leave orphans holding the port.

The parent (uvicorn's supervisor, in ``reprise serve``) stops its workers itself on SIGINT and SIGTERM. When it is
killed outright (SIGKILL, an OOM kill, a crash) it cannot, and the workers would go on answering, with nobody to stop
them, on a port a restart then cannot bind. So each worker, first thing, asks the kernel to kill it when its parent
dies (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, through :mod:`reprise._process`; elsewhere a thread that watches
the parent's pid), and exits at once if the parent is already gone. SIGKILL rather than SIGTERM: a worker stuck in a
model call must not keep the port, and there is nobody left to wait for a graceful exit.

Example:
    >>> os.environ[ENV_PARENT] = str(os.getpid())  # in the parent, before starting workers  # doctest: +SKIP
    >>> die_with_parent()                          # in each worker, before anything else     # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Final

from reprise._process import set_parent_death_signal

__all__ = ["ENV_PARENT", "die_with_parent"]

#: The pid of the ``reprise serve`` process that started the workers.
ENV_PARENT: Final = "REPRISE_SERVE_PARENT_PID"

_LOG = logging.getLogger("reprise.serve")
#: How often the fallback watch (not Linux) looks at the parent.
_WATCH_SECONDS: Final = 0.5


def die_with_parent() -> bool:
    """Make this worker die when the process named by ``REPRISE_SERVE_PARENT_PID`` dies; exit now if it has.

    Returns:
        Whether a parent was named (outside ``reprise serve --workers N`` nothing is done).
    """
    text = os.environ.get(ENV_PARENT, "")
    if not text.isdigit():
        return False
    parent = int(text)
    if not set_parent_death_signal(signal.SIGKILL):
        threading.Thread(target=_watch, args=(parent,), name="reprise-parent-watch", daemon=True).start()
    # The parent may have died before the request above: then no signal will ever come.
    if os.getppid() != parent:
        _LOG.error("the reprise serve process %s is gone; worker %s exits", parent, os.getpid())
        os._exit(1)
    return True


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)
