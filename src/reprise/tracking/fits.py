"""Fitted feature pipelines in MLflow: each fit is one run of the ``reprise-pipelines`` experiment holding its bytes.

:mod:`reprise.versioning.pipeline_fits` fits, serialises (skops) and checks; this module only moves bytes in and out of
MLflow and says which run is active, so MLflow stays under ``tracking/``. The run is created with the client (never
the fluent API), so a fit made inside a user's run neither ends nor replaces it, and without drawing from the global
random generator the user may have seeded.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reprise.capture import layout
from reprise.errors import TrackingError
from reprise.tracking._client import client_for, ensure_experiment, fetch_artifacts, quiet_downloads

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reprise.config import Settings

__all__ = ["FITS_EXPERIMENT", "active_run_id", "discard_fit_run", "load_fitted_bytes", "log_fitted_bytes"]

#: The experiment whose runs hold fitted pipelines.
FITS_EXPERIMENT: Final = "reprise-pipelines"
#: Where, inside such a run, the fitted object is logged.
_ARTIFACT_DIR: Final = f"{layout.ARTIFACT_DIR}/{layout.PIPELINE_FIT}"


def log_fitted_bytes(
    settings: Settings, data: bytes, *, file_name: str, run_name: str, tags: Mapping[str, str]
) -> tuple[str, str]:
    """Log ``data`` as the one artifact of a new, finished run of :data:`FITS_EXPERIMENT`.

    Args:
        settings: Project settings (tracking URI, artifact root).
        data: The serialised fitted object.
        file_name: Its file name (``prep-1.2.0.skops``).
        run_name: The run's name.
        tags: Tags mirroring what the fit is, for the MLflow UI (the metadata store holds the truth).

    Returns:
        ``(run_id, artifact_path)``: where to download it from.

    Raises:
        TrackingError: The tracking store refused.
    """
    from mlflow.exceptions import MlflowException

    from reprise.tracking._run_store import unseeded

    client = client_for(settings)
    run_id = None
    try:
        with unseeded():  # MLflow may draw ids from the global generator the user seeded
            experiment_id = ensure_experiment(settings, FITS_EXPERIMENT)
            run_id = str(client.create_run(experiment_id, run_name=run_name, tags=dict(tags)).info.run_id)
        with tempfile.TemporaryDirectory(prefix="reprise-fit-") as tmp:
            path = Path(tmp) / file_name
            path.write_bytes(data)
            client.log_artifact(run_id, str(path), _ARTIFACT_DIR)
        client.set_terminated(run_id, "FINISHED")
    except (MlflowException, OSError) as exc:
        if run_id is not None:  # not left RUNNING: the run holds no usable fit
            with contextlib.suppress(MlflowException):
                client.set_terminated(run_id, "FAILED")
        reason = exc.message if isinstance(exc, MlflowException) else exc.strerror or str(exc)
        raise TrackingError(
            f"cannot store the fitted pipeline {file_name} in {settings.tracking_uri}: {reason}",
            hint="check tracking_uri in reprise.toml and that the artifact store is writable",
        ) from exc
    return run_id, f"{_ARTIFACT_DIR}/{file_name}"


def load_fitted_bytes(settings: Settings, run_id: str, artifact_path: str) -> bytes:
    """The bytes of a fitted pipeline as they are in the artifact store now (the caller checks their digest).

    Args:
        settings: Project settings.
        run_id: The run holding it.
        artifact_path: Its path in the run.

    Returns:
        The file's bytes.

    Raises:
        NotFoundError: The run or the artifact is gone.
    """
    with tempfile.TemporaryDirectory(prefix="reprise-fit-") as tmp, quiet_downloads():
        return fetch_artifacts(settings, run_id, artifact_path, Path(tmp)).read_bytes()


def discard_fit_run(settings: Settings, run_id: str) -> None:
    """Delete a fit's run that lost a race (another process stored the same fit first); its bytes are not needed.

    Args:
        settings: Project settings.
        run_id: The run to delete.

    Raises:
        TrackingError: The tracking store refused.
    """
    from mlflow.exceptions import MlflowException

    try:
        client_for(settings).delete_run(run_id)
    except MlflowException as exc:
        raise TrackingError(f"cannot delete the unused fit run {run_id}: {exc.message}") from exc


def active_run_id() -> str | None:
    """The run this process works in: the active MLflow run, else the run of ``reprise run`` around it.

    Returns:
        The run id, or None outside any run.
    """
    import mlflow

    from reprise.tracking.runs import JOIN_ENV

    active = mlflow.active_run()
    if active is not None:
        return str(active.info.run_id)
    return os.environ.get(JOIN_ENV) or None
