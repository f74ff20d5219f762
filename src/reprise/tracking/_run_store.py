"""The tracking-store side of a captured run: open it, read back what was logged into it, close it.

Each step takes plain, picklable arguments (settings, tags, a folder of files to log) and returns plain values, so
it runs the same in the capturing process or in the resident process (:mod:`reprise.tracking._resident`) that
``reprise run`` hands its writes to. All writes go through ``MlflowClient``.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
from typing import TYPE_CHECKING, Any, Final

from reprise.capture import layout
from reprise.capture.record import PredictionFingerprint, RunRecord, fingerprint_predictions
from reprise.capture.redact import redact_uri
from reprise.errors import TrackingError
from reprise.tracking._client import client_for, ensure_experiment
from reprise.tracking._command import close_abandoned
from reprise.tracking._lineage import record_run_lineage

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from mlflow import MlflowClient

    from reprise.config import Settings

__all__ = ["STEPS", "close_run", "open_run", "read_logged", "unseeded"]


def open_run(
    settings: Settings,
    experiment: str,
    run_name: str | None,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    folder: str,
) -> tuple[str, str]:
    """Create the run in ``experiment`` (made if missing) with ``tags`` and ``params``; log ``folder``'s files.

    Runs left RUNNING by a process that is gone are closed first (see :func:`~reprise.tracking._command.owner`).

    Returns:
        The experiment id and the run id.

    Raises:
        TrackingError: The store cannot be used or the run cannot be created.
    """
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException

    with unseeded():  # MLflow draws experiment ids and run names from the global generator the user seeded
        experiment_id = ensure_experiment(settings, experiment)
        client = client_for(settings)
        try:
            close_abandoned(client, experiment_id)
            run_id = str(client.create_run(experiment_id, run_name=run_name, tags=dict(tags)).info.run_id)
        except MlflowException as exc:
            raise TrackingError(f"cannot create a run in {redact_uri(settings.tracking_uri)}: {exc.message}") from exc
    if params:
        client.log_batch(run_id, params=[Param(key, value) for key, value in params.items()])
    client.log_artifacts(run_id, folder, layout.ARTIFACT_DIR)
    return experiment_id, run_id


def read_logged(
    settings: Settings, run_id: str, fingerprint: PredictionFingerprint | None
) -> tuple[dict[str, float], dict[str, str], PredictionFingerprint | None]:
    """What the run holds now: its metrics, its tags, and the fingerprint of its predictions.

    Args:
        settings: Project settings.
        run_id: The run.
        fingerprint: The fingerprint the capturing process already has; when None, that of predictions a child
            process logged with :func:`reprise.log_predictions`, if it did.
    """
    client = client_for(settings)
    data = client.get_run(run_id).data
    return dict(data.metrics), dict(data.tags), fingerprint or _logged_fingerprint(client, run_id)


def close_run(
    settings: Settings,
    record: RunRecord,
    folder: str,
    tags: Mapping[str, str],
    parent: str | None,
    end: bool,
) -> None:
    """Log ``folder``'s files and ``tags``, link the run in lineage, and (when ``end``) end it with its status.

    Args:
        settings: Project settings.
        record: The finished run's record (its run id, experiment id and status).
        folder: Files to log under ``reprise/`` (the record, kept outputs, stdout, predictions).
        tags: Tags to set on the run.
        parent: The id of the run it is nested in, if any.
        end: Set the run's terminal status here; False when the caller ends MLflow's active run itself.
    """
    from mlflow.entities import RunTag

    client = client_for(settings)
    client.log_artifacts(record.run_id, folder, layout.ARTIFACT_DIR)
    client.log_batch(record.run_id, tags=[RunTag(key, value) for key, value in tags.items()])
    children = client.search_runs([record.experiment_id], f"tags.`mlflow.parentRunId` = '{record.run_id}'")
    record_run_lineage(settings, record, parent=parent, children=[child.info.run_id for child in children])
    if end:
        client.set_terminated(record.run_id, record.status)


def _logged_fingerprint(client: MlflowClient, run_id: str) -> PredictionFingerprint | None:
    """Fingerprint predictions a child process logged with :func:`reprise.log_predictions`, if it did."""
    import numpy as np

    listed = client.list_artifacts(run_id, layout.ARTIFACT_DIR)
    if not any(item.path.endswith(layout.PREDICTIONS) for item in listed):
        return None
    with tempfile.TemporaryDirectory(prefix="reprise-") as tmp:
        local = client.download_artifacts(run_id, f"{layout.ARTIFACT_DIR}/{layout.PREDICTIONS}", tmp)
        return fingerprint_predictions(np.load(local, allow_pickle=False))


@contextlib.contextmanager
def unseeded() -> Iterator[None]:
    """Draw from a fresh global generator inside, and give the user's seeded state back afterwards."""
    state = random.getstate()
    random.seed()
    try:
        yield
    finally:
        random.setstate(state)


#: The steps, by the name a wrapper sends to the resident process.
STEPS: Final[dict[str, Callable[..., Any]]] = {"open_run": open_run, "read_logged": read_logged, "close_run": close_run}
