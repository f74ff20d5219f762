"""What a run tells about the model it produced: the model's location, and git commit, data digest, type, date.

Reads what Reprise captured (the ``reprise/record.json`` artifact, then the ``reprise.*`` run tags), on the run
itself or, for a nested run (a candidate trained inside a ``reprise run`` stage), on its nearest captured parent. A
run Reprise did not capture still registers: what cannot be known is ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import NotFoundError, RepriseError
from reprise.registry._mlflow import mlflow_errors, quiet_downloads
from reprise.registry.catalog import UNKNOWN

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from reprise.config import Settings

__all__ = ["ModelLocation", "Provenance", "captured_run", "find_model", "read_model_meta", "read_provenance"]

#: How far up ``mlflow.parentRunId`` to look for the captured run.
_MAX_PARENTS: Final = 5


@dataclass(frozen=True)
class ModelLocation:
    """Where a run's model is: its files and, for an MLflow 3 LoggedModel, its id."""

    source: str
    model_id: str | None
    model_type: str | None


@dataclass(frozen=True)
class Provenance:
    """Where a model came from, as tag values (``unknown`` when not captured)."""

    git_commit: str
    git_dirty: str
    data_digest: str
    training_date: str
    model_type: str
    captured_run: str | None


def find_model(client: MlflowClient, run: Run, artifact_path: str) -> ModelLocation:
    """The model logged in ``run`` under ``artifact_path``: a LoggedModel, or an MLflow 2 ``runs:/`` folder.

    Raises:
        NotFoundError: The run logged no such model; the message lists the models it did log.
        RegistryError: Several models carry that name and none can be chosen.
    """
    run_id = run.info.run_id
    logged: list[Any] = []
    token: str | None = None
    with mlflow_errors(f"cannot search the models of run {run_id}"):
        while True:
            page = client.search_logged_models(
                [run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'", page_token=token
            )
            logged.extend(page)
            token = page.token
            if not token:
                break
    named = [model for model in logged if model.name == artifact_path]
    if named:
        steps = {output.model_id: output.step for output in (run.outputs.model_outputs if run.outputs else [])}
        chosen = max(named, key=lambda model: (steps.get(model.model_id, 0), model.creation_timestamp))
        return ModelLocation(str(chosen.artifact_location), str(chosen.model_id), chosen.model_type or None)
    with mlflow_errors(f"cannot list the artifacts of run {run_id}"):
        files = [entry.path for entry in client.list_artifacts(run_id, artifact_path)]
    if f"{artifact_path}/MLmodel" in files:
        return ModelLocation(f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}", None, None)
    names = sorted({str(model.name) for model in logged})
    listed = ", ".join(names) if names else "none"
    hint = f"pass artifact_path={names[0]!r}" if len(names) == 1 else "log one with reprise.log_model(model, X)"
    raise NotFoundError(f"run {run_id} has no model '{artifact_path}'; models logged in it: {listed}", hint=hint)


def read_model_meta(settings: Settings, source: str) -> Any:
    """The model's ``MLmodel`` (an ``mlflow.models.Model``: flavours, signature, input example), or None."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    try:
        with quiet_downloads():
            path = download_artifacts(artifact_uri=f"{source.rstrip('/')}/MLmodel", tracking_uri=settings.tracking_uri)
        return Model.load(path)
    except (MlflowException, OSError):
        return None


def read_provenance(
    settings: Settings, client: MlflowClient, run: Run, location: ModelLocation, meta: Any
) -> Provenance:
    """Git commit, dirtiness, data digest, training date and model type of the model ``run`` produced."""
    captured = captured_run(client, run)
    commit = dirty = digest = None
    if captured is not None:
        record = _record(settings, captured.info.run_id)
        tags = captured.data.tags
        if record is not None:
            commit, dirty, digest = record.code.git.commit, str(record.code.git.dirty).lower(), record.data_digest
        commit = commit or tags.get("reprise.git_commit") or None
        dirty = dirty or tags.get("reprise.git_dirty") or None
        digest = digest or tags.get("reprise.data_digest") or None
    commit = commit or run.data.tags.get("mlflow.source.git.commit") or None
    started = datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC)
    return Provenance(
        git_commit=commit or UNKNOWN,
        git_dirty=dirty or UNKNOWN,
        data_digest=digest or UNKNOWN,
        training_date=started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        model_type=_model_type(run, location, meta),
        captured_run=None if captured is None else str(captured.info.run_id),
    )


def captured_run(client: MlflowClient, run: Run) -> Run | None:
    """The run itself if Reprise captured it, else its nearest captured parent."""
    from mlflow.exceptions import MlflowException

    current: Run | None = run
    for _ in range(_MAX_PARENTS):
        if current is None:
            return None
        if "reprise.record_version" in current.data.tags:
            return current
        parent = current.data.tags.get("mlflow.parentRunId")
        try:
            current = client.get_run(parent) if parent else None
        except MlflowException:
            return None
    return None


def _record(settings: Settings, run_id: str) -> Any:
    """The run's RunRecord (checked against its digest), or None: still running, not captured, or altered."""
    from reprise.tracking.records import read_record

    try:
        return read_record(settings, run_id)
    except RepriseError:
        return None


def _model_type(run: Run, location: ModelLocation, meta: Any) -> str:
    tags = run.data.tags
    for value in (tags.get("estimator_name"), location.model_type):
        if value:
            return str(value)
    flavors = [flavor for flavor in (getattr(meta, "flavors", None) or {}) if flavor != "python_function"]
    return flavors[0] if flavors else UNKNOWN
