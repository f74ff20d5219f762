"""Re-verify many targets at once on Dask: one reproduction per task, one verdict per target, and a summary.

:func:`verify_queries` is ``reprise reproduce --batch QUERY`` and ``reprise team verify QUERY...``: the queries
(``alias:production``, ``env:production``, ``downstream:data:raw@v3``, or targets; see
:mod:`reprise.reproduce.batch_query`) are resolved once into targets, then :func:`verify_batch` runs them.

Each target is a task that calls :func:`reprise.reproduce.targets.reproduce_target` on a Dask worker process (so a
target is anything ``reprise reproduce`` takes: a run, ``models:/name@alias``, a unified version, a release, a data
version, and its verdict is kept in the metadata store like any other), so a batch
scales with the workers of an existing cluster (``cluster="tcp://host:8786"``) or of a local one started for the
batch (``workers=N`` processes, one thread each: a reproduction runs a whole training command). A worker that dies
mid-task loses nothing: the scheduler hands its task to another worker (Dask's own resilience), and a reproduction
starts from the records alone, so the verdict does not depend on who ran it or how many workers there were.

A target that cannot be reproduced at all (unknown run, no record, data missing) is a ``failed`` verdict with the
one-line reason, not an exception: the other targets still get theirs.

Example:
    >>> report = verify_queries(["alias:production"], settings=load_settings(), workers=2)  # doctest: +SKIP
    >>> report.summary                                                                      # doctest: +SKIP
    {'identical': 2}
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reprise.errors import RepriseError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from reprise.config import Settings
    from reprise.reproduce.compare import Tolerance

__all__ = ["BatchReport", "TargetVerdict", "verify_batch", "verify_queries"]


@dataclass(frozen=True)
class TargetVerdict:
    """The verdict on one target.

    Attributes:
        target: The target as given.
        verdict: ``identical``, ``within_tolerance``, ``different`` or ``failed``.
        summary: One line: the headline of the reproduction, or why it could not run.
        reproduction_run_id: The re-run's MLflow run (None when it never started).
        worker: ``host:pid`` of the worker process that produced the verdict.
        seconds: Wall time of the task.
    """

    target: str
    verdict: str
    summary: str
    reproduction_run_id: str | None
    worker: str
    seconds: float


@dataclass(frozen=True)
class BatchReport:
    """A batch's verdicts, in the order of the targets, and where it ran.

    Attributes:
        verdicts: One per target.
        workers: How many worker processes the cluster had when the batch started.
        cluster: The scheduler's address.
        seconds: Wall time of the batch.
        queries: The queries the targets were selected by (empty when targets were given).
    """

    verdicts: tuple[TargetVerdict, ...]
    workers: int
    cluster: str
    seconds: float
    queries: tuple[str, ...] = ()

    @property
    def summary(self) -> dict[str, int]:
        """How many targets got each verdict."""
        return dict(sorted(Counter(item.verdict for item in self.verdicts).items()))

    @property
    def ok(self) -> bool:
        """Every target reproduced (identical or within tolerance)."""
        return all(item.verdict in ("identical", "within_tolerance") for item in self.verdicts)


def verify_queries(
    queries: Sequence[str],
    *,
    settings: Settings,
    workers: int = 2,
    cluster: str | None = None,
    in_place: bool = False,
    tolerance: Tolerance | None = None,
) -> BatchReport:
    """Re-verify every target ``queries`` select (:func:`reprise.reproduce.batch_query.select_targets`) on Dask.

    Args:
        queries: ``alias:[MODEL@]ALIAS``, ``env:ENV``, ``downstream:REF`` or targets, resolved before any worker
            starts; their targets in order, each once.
        settings: The project's settings.
        workers: Worker processes of the local cluster started when ``cluster`` is None.
        cluster: The address of a running Dask scheduler (``tcp://host:8786``).
        in_place: Re-run in the project's checkout and interpreter.
        tolerance: How far metrics and predictions may differ and still count as within tolerance.

    Returns:
        The verdicts, in the order of the targets, with the queries.

    Raises:
        ConfigError: A malformed query (exit 2).
        NotFoundError: A query that selects nothing (exit 3).
        MissingExtraError: Dask is not installed (``reprise[team]``).
    """
    from reprise.reproduce.batch_query import select_targets

    targets = select_targets(queries, settings=settings)
    report = verify_batch(
        targets, settings=settings, workers=workers, cluster=cluster, in_place=in_place, tolerance=tolerance
    )
    return dataclasses.replace(report, queries=tuple(queries))


def verify_batch(
    targets: Sequence[str],
    *,
    settings: Settings,
    workers: int = 2,
    cluster: str | None = None,
    in_place: bool = False,
    tolerance: Tolerance | None = None,
    on_submit: Callable[[Any], None] | None = None,
) -> BatchReport:
    """Reproduce every target as a Dask task and collect one verdict per target.

    Args:
        targets: What to reproduce, as ``reprise reproduce`` takes it (run ids, ``models:/name@alias``, releases...);
            a target given twice is verified twice.
        settings: The project's settings, shipped to every task (the tracking server and stores they name must be
            reachable from the workers, with the credentials in their environment).
        workers: Worker processes of the local cluster started when ``cluster`` is None.
        cluster: The address of a running Dask scheduler (``tcp://host:8786``).
        in_place: Re-run in the project's checkout and interpreter instead of a worktree and a fresh venv each.
        tolerance: How far metrics and predictions may differ and still count as within tolerance (default: the
            one ``reprise reproduce`` uses).
        on_submit: Called with the Dask client once the tasks are submitted (progress, or a test that kills a
            worker mid-way).

    Returns:
        The verdicts, in the order of ``targets``.

    Raises:
        MissingExtraError: Dask is not installed (``reprise[team]``).
    """
    from reprise._cluster import dask_client

    started = time.monotonic()
    with dask_client(workers, cluster) as client:
        info = client.scheduler_info(n_workers=-1)
        count, address = len(info["workers"]), str(info["address"])
        futures = [
            client.submit(
                _verify_one, target, settings, in_place, tolerance, key=f"reprise-verify-{index}-{target}", pure=False
            )
            for index, target in enumerate(targets)
        ]
        if on_submit is not None:
            on_submit(client)
        verdicts: tuple[TargetVerdict, ...] = tuple(client.gather(futures))
    return BatchReport(verdicts=verdicts, workers=count, cluster=address, seconds=time.monotonic() - started)


def _verify_one(target: str, settings: Settings, in_place: bool, tolerance: Tolerance | None) -> TargetVerdict:
    """One task: reproduce ``target`` on this worker and return its verdict (a failure to run is a verdict too)."""
    from reprise.reproduce.targets import reproduce_target

    started = time.monotonic()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        result = reproduce_target(target, settings=settings, in_place=in_place, tolerance=tolerance)
    except RepriseError as exc:
        return TargetVerdict(target, "failed", exc.message, None, worker, time.monotonic() - started)
    rerun = getattr(result, "reproduction_run_id", None)  # a unified version or a release has one per component
    return TargetVerdict(target, result.verdict.value, result.headline, rerun, worker, time.monotonic() - started)
