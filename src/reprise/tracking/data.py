"""Data manifests in MLflow: the manifest as an artifact, its size and timing as metrics, its shape as params.

This lives in ``tracking`` because ``data`` sits below it and may not import MLflow: ``Manifest`` stays free of
MLflow, and this module is the manifest's ``log_to_mlflow``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from reprise.config import load_settings
from reprise.errors import TrackingError
from reprise.tracking._client import _existing_run

if TYPE_CHECKING:
    from reprise.config import Settings
    from reprise.data.manifest import Manifest
    from reprise.tracking.runs import CapturedRun

__all__ = ["MANIFEST_ARTIFACT_DIR", "log_manifest"]

#: Where, inside a run's artifacts, manifests are logged.
MANIFEST_ARTIFACT_DIR = "reprise/data"


def log_manifest(
    manifest: Manifest,
    run: str | CapturedRun,
    *,
    settings: Settings | None = None,
    artifact_path: str = MANIFEST_ARTIFACT_DIR,
    file_name: str = "manifest.json",
) -> None:
    """Log a manifest to an MLflow run, in two calls.

    Logs the manifest JSON as the artifact ``<artifact_path>/<file_name>``; the metrics ``data_files_count``,
    ``data_size_bytes`` and ``data_processing_time`` (seconds); the params ``data_path``, ``hash_algorithms`` and
    ``manifest_version``; and the tag ``reprise.data_manifest_digest``.

    Args:
        manifest: The manifest.
        run: An existing MLflow run: its id, or the run ``reprise.start_run`` yielded.
        settings: Project settings (default: the run's, else loaded from the working directory).
        artifact_path: Artifact folder inside the run.
        file_name: Artifact file name.

    Raises:
        NotFoundError: The run does not exist.
        TrackingError: MLflow refused (e.g. the run already has a different ``data_path`` param).

    Example:
        >>> with reprise.start_run() as run:                             # doctest: +SKIP
        ...     reprise.log_manifest(reprise.Manifest.generate("data/"), run)
    """
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    if isinstance(run, str):
        run_id, settings = run, settings or load_settings()
    else:
        run_id, settings = run.run_id, settings or run.settings
    client = _existing_run(settings, run_id)
    now = int(time.time() * 1000)
    summary = manifest.summary
    try:
        with tempfile.TemporaryDirectory(prefix="reprise-manifest-") as tmp:
            target = Path(tmp) / file_name
            manifest.save(target)
            client.log_artifact(run_id, str(target), artifact_path)
        client.log_batch(
            run_id,
            metrics=[
                Metric("data_files_count", float(summary.total_files), now, 0),
                Metric("data_size_bytes", float(summary.total_size), now, 0),
                Metric("data_processing_time", float(summary.processing_time), now, 0),
            ],
            params=[
                Param("data_path", manifest.root),
                Param("hash_algorithms", ",".join(manifest.algorithms)),
                Param("manifest_version", str(manifest.manifest_version)),
            ],
            tags=[RunTag("reprise.data_manifest_digest", manifest.digest)],
        )
    except MlflowException as exc:
        raise TrackingError(
            f"cannot log the manifest of {manifest.root} to run {run_id}: {exc.message}",
            hint="log each manifest to its own run (params cannot change once logged)",
        ) from exc
