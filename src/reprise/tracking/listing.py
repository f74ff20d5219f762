"""The captured runs of a project, newest first, with the verdict of each one's last reproduction (``reprise runs``).

Runs are read from the tracking store; verdicts from the metadata store, where reproductions are kept. The
experiments Reprise keeps for itself (fitted pipelines, the registry events of Reprise 0.1) are left out. Both stores
are read in the resident process when it serves them (:mod:`reprise.tracking._resident`), which has MLflow and
SQLAlchemy imported already.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from reprise.errors import NotFoundError, TrackingError
from reprise.tracking.fits import FITS_EXPERIMENT

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = ["INTERNAL_EXPERIMENTS", "RunSummary", "list_runs"]

#: Experiments that hold Reprise's own bookkeeping, not the user's runs (``reprise-registry-events``: Reprise 0.1).
INTERNAL_EXPERIMENTS: Final = frozenset({FITS_EXPERIMENT, "reprise-registry-events"})


@dataclass(frozen=True)
class RunSummary:
    """One captured run, as ``reprise runs`` lists it.

    Attributes:
        run_id: The MLflow run id.
        name: The run's name.
        experiment: The experiment's name.
        status: RUNNING, FINISHED, FAILED or KILLED.
        started_at: When it started (UTC).
        metrics: Its latest metric values.
        verdict: The verdict of its last reproduction (identical, within_tolerance, different, unverified,
            failed), or ``None`` when it was never reproduced.
        reproduced_at: When that reproduction reached its verdict (UTC).
    """

    run_id: str
    name: str
    experiment: str
    status: str
    started_at: datetime | None
    metrics: dict[str, float] = field(default_factory=dict)
    verdict: str | None = None
    reproduced_at: datetime | None = None


def list_runs(settings: Settings, *, experiment: str | None = None, limit: int = 20) -> list[RunSummary]:
    """The newest ``limit`` runs of the project (of ``experiment`` only, when given), newest first.

    Args:
        settings: The project's settings.
        experiment: An experiment's name.
        limit: The most runs to return.

    Raises:
        NotFoundError: No experiment is called ``experiment``.
        TrackingError: The tracking store cannot be read.

    Example:
        >>> [run.run_id for run in list_runs(load_settings(), limit=3)]   # doctest: +SKIP
        ['4829750...', ...]
    """
    from reprise.tracking._resident import read_through_resident

    return read_through_resident(_read_runs, settings, experiment=experiment, limit=limit)


def _read_runs(settings: Settings, experiment: str | None, limit: int) -> list[RunSummary]:
    """:func:`list_runs` itself, in whichever process has the stores open (the resident's or this one)."""
    from mlflow.exceptions import MlflowException

    from reprise.store.db import open_store
    from reprise.store.reproductions import latest_reproductions
    from reprise.tracking._client import client_for

    client = client_for(settings)
    try:
        experiments = {
            e.experiment_id: e.name for e in client.search_experiments() if e.name not in INTERNAL_EXPERIMENTS
        }
        if experiment is not None:
            experiments = {key: name for key, name in experiments.items() if name == experiment}
            if not experiments:
                raise NotFoundError(f"no experiment '{experiment}' in {settings.tracking_uri}", hint="reprise runs")
        found = (
            client.search_runs(list(experiments), max_results=limit, order_by=["attributes.start_time DESC"])
            if experiments
            else []
        )
    except MlflowException as exc:
        raise TrackingError(
            f"cannot list the runs in {settings.tracking_uri}: {exc.message}", hint="check tracking_uri in reprise.toml"
        ) from exc
    latest = latest_reproductions(open_store(settings), [f"run:{run.info.run_id}" for run in found])
    summaries = []
    for run in found:
        reproduction = latest.get(f"run:{run.info.run_id}")
        started = run.info.start_time
        summaries.append(
            RunSummary(
                run_id=run.info.run_id,
                name=run.info.run_name or "",
                experiment=experiments[run.info.experiment_id],
                status=run.info.status,
                started_at=None if started is None else datetime.fromtimestamp(started / 1000, tz=UTC),
                metrics=dict(run.data.metrics),
                verdict=None if reproduction is None else reproduction.verdict,
                reproduced_at=None if reproduction is None else reproduction.finished_at,
            )
        )
    return summaries
