"""The only place that builds an ``MlflowClient``; experiments get their artifact root from Settings.

MLflow errors are wrapped into :class:`reprise.errors.TrackingError` or :class:`reprise.errors.NotFoundError` here.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from reprise._offline import ensure_offline
from reprise.errors import NotFoundError, TrackingError

_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow import MlflowClient

    from reprise.config import Settings

__all__ = ["client_for", "ensure_experiment", "fetch_artifacts", "log_folder", "quiet_downloads"]


def client_for(settings: Settings) -> MlflowClient:
    """An MLflow client on the project's tracking store (one per URI per process)."""
    if settings.tracking_uri.startswith("sqlite:///"):
        database = Path(settings.tracking_uri.removeprefix("sqlite:///"))
        if not database.exists():
            _create_store(settings.tracking_uri, settings.artifact_location)
    return _client(settings.tracking_uri)


def _create_store(tracking_uri: str, artifact_location: str) -> None:
    """Create a new SQLite store whose Default experiment keeps its artifacts under the project's artifact root.

    Left to itself MLflow would root them at ``./mlruns`` in whatever directory first opened the store.
    """
    ensure_offline()
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    SqlAlchemyStore(tracking_uri, artifact_location).engine.dispose()  # type: ignore[no-untyped-call]


@functools.cache
def _client(tracking_uri: str) -> MlflowClient:
    ensure_offline()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def ensure_experiment(settings: Settings, name: str) -> str:
    """Return the id of experiment ``name``, creating it with its artifacts under the project's artifact root."""
    from mlflow.exceptions import MlflowException

    client = client_for(settings)
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment.experiment_id)
            return str(experiment.experiment_id)
        location = f"{settings.artifact_location.rstrip('/')}/{_slug(name)}"
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException as exc:
        raise TrackingError(
            f"cannot open experiment '{name}' in {settings.tracking_uri}: {exc.message}",
            hint="check tracking_uri in reprise.toml",
        ) from exc


def fetch_artifacts(settings: Settings, run_id: str, artifact_path: str, destination: Path) -> Path:
    """Download ``artifact_path`` of run ``run_id`` into ``destination`` and return the local path.

    Raises:
        NotFoundError: The run or the artifact does not exist.
    """
    from mlflow.exceptions import MlflowException

    client = _existing_run(settings, run_id)
    try:
        local = client.download_artifacts(run_id, artifact_path, str(destination))
    except (MlflowException, OSError) as exc:
        raise NotFoundError(
            f"run {run_id} has no artifact '{artifact_path}'", hint="was the run captured by Reprise?"
        ) from exc
    return Path(local)


def log_folder(settings: Settings, run_id: str, folder: Path, artifact_path: str) -> None:
    """Log every file in ``folder`` under ``artifact_path`` of an existing run, in one call.

    Raises:
        NotFoundError: The run does not exist.
    """
    _existing_run(settings, run_id).log_artifacts(run_id, str(folder), artifact_path)


def _existing_run(settings: Settings, run_id: str) -> MlflowClient:
    from mlflow.exceptions import MlflowException

    client = client_for(settings)
    try:
        client.get_run(run_id)
    except MlflowException as exc:
        raise NotFoundError(
            f"no run {run_id} in {settings.tracking_uri}", hint="check the run id in the MLflow UI (`mlflow ui`)"
        ) from exc
    return client


@contextlib.contextmanager
def quiet_downloads() -> Iterator[None]:
    """No MLflow download progress bar inside the block (small metadata files, server logs), unless the user set one."""
    if _PROGRESS_BAR in os.environ:
        yield
        return
    os.environ[_PROGRESS_BAR] = "false"
    try:
        yield
    finally:
        os.environ.pop(_PROGRESS_BAR, None)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "experiment"
