"""The one place Reprise starts or joins a Dask cluster: team batch work and constrained AutoML trials run on it.

Either an existing scheduler (``tcp://host:8786``) or a local cluster of ``workers`` processes with one thread each,
started for the work and stopped after it, on free loopback ports, with no dashboard. Dask (``distributed``) comes
with the ``team`` extra and is imported only when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from reprise.errors import MissingExtraError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["dask_client", "require_dask"]


def require_dask() -> None:
    """Check that Dask is installed before work that will need a cluster starts.

    Raises:
        MissingExtraError: ``distributed`` is not installed (``reprise[team]``).
    """
    try:
        import distributed  # noqa: F401  # the check is the import
    except ImportError as exc:
        raise MissingExtraError("dask", "team") from exc


#: How long a worker process (or this client) may take to connect: imports included, on a loaded machine.
_CONNECT_TIMEOUT = "180s"


@contextlib.contextmanager
def dask_client(workers: int, cluster: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` on ``cluster``, or on a local cluster of ``workers`` one-thread processes.

    Raises:
        MissingExtraError: Dask is not installed (``reprise[team]``).
    """
    require_dask()
    import dask
    from distributed import Client, LocalCluster

    # Worker processes import their packages before they connect: on a loaded machine that can pass Dask's 30 s
    # connect timeout, and the cluster closes without starting up. The setting reaches the workers through their nanny.
    with dask.config.set({"distributed.comm.timeouts.connect": _CONNECT_TIMEOUT}):
        local = None
        if cluster is None:
            local = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # The scheduler's HTTP routes (health, metrics) on a free loopback port: Dask's default 8787 may be
                # taken (another cluster on the machine), and Dask then warns and moves.
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                host="127.0.0.1",
                silence_logs=40,  # logging.ERROR: a worker lost and replaced is Dask's business, the results ours
            )
        try:
            client = Client(local if local is not None else cluster)  # type: ignore[no-untyped-call]
            try:
                yield client
            finally:
                client.close()  # type: ignore[no-untyped-call]
        finally:
            if local is not None:
                local.close()
