"""Reading captured runs back, and the few writes reproduction needs: records, patches, predictions, tags, child runs.

Everything here goes through the client of :func:`reprise.tracking._client.client_for`; MLflow errors come out as
:class:`reprise.errors.NotFoundError` (unknown run, missing artifact) or :class:`reprise.errors.TrackingError`.

Example:
    >>> record = read_record(settings, "4c7db37c9e1b4f0a8a3e1f6e2b7d9c01")   # doctest: +SKIP
    >>> metric_tree(settings, record.run_id)                                   # doctest: +SKIP
    {'rmse': 54.1, 'random_forest/rmse': 55.0, ...}
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field

from reprise.capture import layout
from reprise.capture.record import RunRecord
from reprise.errors import NotFoundError, RecordIntegrityError, TrackingError
from reprise.tracking._client import client_for, quiet_downloads

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from mlflow.entities import Run

    from reprise.config import Settings

__all__ = [
    "RunInfo",
    "child_runs",
    "create_run",
    "end_run",
    "experiment_id",
    "latest_captured_run",
    "nearest_captured",
    "log_files",
    "read_file",
    "metric_tree",
    "read_output",
    "read_patch",
    "read_predictions",
    "read_record",
    "read_stdout",
    "run_info",
    "run_tree",
    "set_tags",
]

_DIR: Final = layout.ARTIFACT_DIR
#: How deep :func:`metric_tree` follows child runs (stage -> candidate is two levels).
_TREE_DEPTH: Final = 3


class RunInfo(BaseModel):
    """What reproduction needs to know about an MLflow run besides its record.

    Attributes:
        run_id: The run id.
        name: The run name.
        experiment_id: The experiment id.
        experiment_name: The experiment name.
        status: ``RUNNING``, ``FINISHED``, ``FAILED`` or ``KILLED``.
        parent_run_id: The ``mlflow.parentRunId`` tag, if any.
        start_time: Start time in ms since the epoch.
        metrics: The run's latest metric values.
        params: The run's params.
        tags: The run's tags.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    name: str
    experiment_id: str
    experiment_name: str
    status: str
    parent_run_id: str | None = None
    start_time: int = 0
    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


def run_info(settings: Settings, run_id: str) -> RunInfo:
    """Look a run up.

    Args:
        settings: The project's settings (its tracking store).
        run_id: The run id.

    Returns:
        The run's name, experiment, status, parent, metrics and tags.

    Raises:
        NotFoundError: No such run in the store.
    """
    return _info(settings, _get_run(settings, run_id))


def read_record(settings: Settings, run_id: str) -> RunRecord:
    """Download the run's ``reprise/record.json``, check it against the digest taken at capture, and parse it.

    Raises:
        NotFoundError: No such run, or the run has no record (not captured by Reprise, or still running).
        RecordIntegrityError: The record does not match its digest (edited in the artifact store) or is not a
            record (corrupt, truncated).
    """
    run = _get_run(settings, run_id)
    data = _download(settings, run_id, layout.RECORD)
    where = f"{_DIR}/{layout.RECORD} of run {run_id}"
    if data is None:
        raise NotFoundError(
            f"run {run_id} has no {_DIR}/{layout.RECORD}: it was not captured by Reprise or has not finished",
            hint="capture runs with `reprise run -- CMD` (or reprise.start_run) so they can be reproduced",
        )
    expected = run.data.tags.get(layout.RECORD_DIGEST_TAG)
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise RecordIntegrityError(
            f"{where} does not match the digest taken when it was captured: it was changed afterwards",
            hint="an edited record is not trusted; reproduce another run, or capture this one again",
        )
    try:
        return RunRecord.from_json(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RecordIntegrityError(
            f"{where} is not a valid record ({first})", hint="the run cannot be reproduced from it; capture it again"
        ) from exc


def read_file(settings: Settings, run_id: str, name: str) -> bytes | None:
    """The artifact ``reprise/<name>`` of a run (as :func:`log_files` wrote it), or None when it has none.

    Raises:
        TrackingError: The run's artifacts cannot be listed.
        NotFoundError: The artifact is listed but cannot be downloaded.
    """
    return _download(settings, run_id, name)


def read_patch(settings: Settings, run_id: str) -> bytes | None:
    """The run's ``reprise/code.patch`` (its uncommitted change), or None when it has none."""
    return _download(settings, run_id, layout.PATCH)


def read_stdout(settings: Settings, run_id: str) -> str | None:
    """What the run printed on its standard output (``reprise/stdout.txt``, its first MiB), or None if not kept."""
    data = _download(settings, run_id, layout.STDOUT)
    return None if data is None else data.decode("utf-8", errors="replace")


def read_output(settings: Settings, run_id: str, path: str) -> bytes | None:
    """The copy of output ``path`` the run kept under ``reprise/outputs/`` (small files only), or None."""
    from mlflow.exceptions import MlflowException

    client = client_for(settings)
    with tempfile.TemporaryDirectory(prefix="reprise-") as tmp, quiet_downloads():
        try:
            local = Path(client.download_artifacts(run_id, f"{_DIR}/{layout.OUTPUTS}/{path}", tmp))
        except (MlflowException, OSError):
            return None
        return local.read_bytes() if local.is_file() else None


def read_predictions(settings: Settings, run_id: str) -> Any:
    """The run's ``reprise/predictions.npy`` as a NumPy array, or None when it logged none."""
    import io

    import numpy as np

    data = _download(settings, run_id, layout.PREDICTIONS)
    return None if data is None else np.load(io.BytesIO(data), allow_pickle=False)


def nearest_captured(settings: Settings, run: RunInfo) -> tuple[RunInfo, str | None]:
    """``run`` if Reprise captured it, else its nearest captured ancestor and ``run``'s label in its :func:`run_tree`.

    A candidate run nested in a captured stage (a plain ``mlflow.start_run(nested=True)``) has no record of its own;
    the stage that made it does, and re-running the stage makes it again under the same label.

    Returns:
        ``(run, None)`` for a captured run, ``(ancestor, label)`` for a run nested in one.

    Raises:
        NotFoundError: Neither the run nor any run above it was captured.
    """
    if _is_captured(settings, run):
        return run, None
    ancestor = run
    while ancestor.parent_run_id:
        ancestor = run_info(settings, ancestor.parent_run_id)
        if _is_captured(settings, ancestor):
            tree = run_tree(settings, ancestor.run_id)
            labels = [label for label, found in tree.items() if found.run_id == run.run_id]
            if labels:
                return ancestor, labels[0]
            break
    raise NotFoundError(
        f"run {run.run_id} has no Reprise record, and no captured run above it holds it",
        hint="reproduce a run made under `reprise run` or `reprise.start_run` (or one nested in such a run)",
    )


def child_runs(settings: Settings, run_id: str) -> list[RunInfo]:
    """The runs whose ``mlflow.parentRunId`` is ``run_id``, oldest first."""
    client = client_for(settings)
    parent = _get_run(settings, run_id)
    with _errors(f"cannot search the children of run {run_id}"):
        found = client.search_runs(
            [parent.info.experiment_id],
            f"tags.mlflow.parentRunId = '{_literal(run_id)}'",
            order_by=["attributes.start_time ASC"],
            max_results=1000,
        )
    return [_info(settings, run) for run in found]


def metric_tree(settings: Settings, run_id: str) -> dict[str, float]:
    """The run's metrics plus its child runs' (and their children's), named ``child/metric``.

    A captured stage run often logs nothing itself while its children (one per candidate model) do: comparing two
    runs means comparing the whole tree, so a child's label must be the same in every execution. A child is labelled
    by its ``reprise.role`` tag, else by its name when the name has no digit in it (``random_forest``), else by its
    place among its siblings (``run 2``): generated names (``capable-auk-759``) and names made of a time or a counter
    change from one execution to the next. A repeated label gets ``#2``, ``#3``...

    Returns:
        ``{"rmse": ..., "random_forest/rmse": ..., ...}``, sorted by name.
    """
    metrics: dict[str, float] = {}
    for label, run in run_tree(settings, run_id).items():
        metrics.update({f"{label}/{key}" if label else key: float(value) for key, value in run.metrics.items()})
    return dict(sorted(metrics.items()))


def run_tree(settings: Settings, run_id: str) -> dict[str, RunInfo]:
    """The run and its descendants (three levels down), by the labels :func:`metric_tree` gives them.

    Returns:
        ``{"": the run, "random_forest": a child, "random_forest/run 1": a grandchild, ...}``, parents first.

    Raises:
        NotFoundError: No such run in the store.
    """
    tree: dict[str, RunInfo] = {}
    _collect(settings, run_info(settings, run_id), "", tree, _TREE_DEPTH)
    return tree


def latest_captured_run(settings: Settings, experiment: str | None = None) -> RunInfo:
    """The most recent finished run with a Reprise record in ``experiment`` (default: the project's).

    Raises:
        NotFoundError: The experiment has no such run.
    """
    client = client_for(settings)
    name = experiment or settings.experiment
    with _errors(f"cannot read experiment '{name}'"):
        found = client.get_experiment_by_name(name)
        runs = (
            []
            if found is None
            else client.search_runs(
                [found.experiment_id],
                "tags.`reprise.record_version` != '' and attributes.status = 'FINISHED'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
            )
        )
    if not runs:
        raise NotFoundError(f"no finished captured run in experiment '{name}'", hint="reprise run -- python train.py")
    return _info(settings, runs[0])


def experiment_id(settings: Settings, name: str | None = None) -> str:
    """The id of experiment ``name`` (default: the project's), created if missing.

    Raises:
        TrackingError: The store refused.
    """
    from reprise.tracking._client import ensure_experiment

    return ensure_experiment(settings, name or settings.experiment)


def create_run(settings: Settings, experiment_id: str, name: str, tags: Mapping[str, str]) -> str:
    """Create a run (left RUNNING) and return its id.

    Raises:
        TrackingError: The store refused.
    """
    with _errors(f"cannot create run '{name}'"):
        run = client_for(settings).create_run(experiment_id, run_name=name, tags=dict(tags))
    return str(run.info.run_id)


def set_tags(settings: Settings, run_id: str, tags: Mapping[str, str]) -> None:
    """Set several tags on a run in one call.

    Raises:
        TrackingError: The store refused.
    """
    from mlflow.entities import RunTag

    with _errors(f"cannot tag run {run_id}"):
        client_for(settings).log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])


def log_files(settings: Settings, run_id: str, files: Mapping[str, str | bytes]) -> None:
    """Log ``{name: content}`` as artifacts ``reprise/<name>`` of a run (finished runs too), in one call.

    Raises:
        TrackingError: The store refused.
    """
    from reprise._canonical import write_atomic

    with tempfile.TemporaryDirectory(prefix="reprise-") as tmp:
        for name, content in files.items():
            write_atomic(Path(tmp) / name, content)
        with _errors(f"cannot log artifacts to run {run_id}"):
            client_for(settings).log_artifacts(run_id, tmp, _DIR)


def end_run(settings: Settings, run_id: str, status: str = "FINISHED") -> None:
    """Mark a run created by :func:`create_run` as ended with ``status``.

    Raises:
        TrackingError: The store refused.
    """
    with _errors(f"cannot end run {run_id}"):
        client_for(settings).set_terminated(run_id, status)


def _is_captured(settings: Settings, run: RunInfo) -> bool:
    """Whether the run has a record (its digest tag says so; a run captured before that tag existed is read)."""
    if layout.RECORD_DIGEST_TAG in run.tags:
        return True
    return _download(settings, run.run_id, layout.RECORD) is not None


def _collect(settings: Settings, run: RunInfo, label: str, into: dict[str, RunInfo], depth: int) -> None:
    into[label] = run
    if depth <= 0:
        return
    seen: dict[str, int] = {}
    for place, child in enumerate(child_runs(settings, run.run_id), start=1):
        stable = child.name if child.name and not any(c.isdigit() for c in child.name) else f"run {place}"
        role = child.tags.get("reprise.role") or stable
        seen[role] = seen.get(role, 0) + 1
        name = role if seen[role] == 1 else f"{role}#{seen[role]}"
        _collect(settings, child, f"{label}/{name}" if label else name, into, depth - 1)


def _get_run(settings: Settings, run_id: str) -> Run:
    from mlflow.exceptions import MlflowException

    try:
        return client_for(settings).get_run(run_id)
    except MlflowException as exc:
        raise NotFoundError(
            f"no run {run_id} in {settings.tracking_uri}", hint="check the run id (reprise ui lists the runs)"
        ) from exc


def _info(settings: Settings, run: Run) -> RunInfo:
    client = client_for(settings)
    with _errors(f"cannot read experiment {run.info.experiment_id}"):
        experiment = client.get_experiment(run.info.experiment_id)
    tags = dict(run.data.tags)
    return RunInfo(
        run_id=run.info.run_id,
        name=run.info.run_name or tags.get("mlflow.runName", ""),
        experiment_id=str(run.info.experiment_id),
        experiment_name=experiment.name,
        status=run.info.status,
        parent_run_id=tags.get("mlflow.parentRunId"),
        start_time=int(run.info.start_time or 0),
        metrics={key: float(value) for key, value in run.data.metrics.items()},
        params=dict(run.data.params),
        tags=tags,
    )


def _download(settings: Settings, run_id: str, name: str) -> bytes | None:
    from mlflow.exceptions import MlflowException

    client = client_for(settings)
    with _errors(f"cannot list the artifacts of run {run_id}"):
        listed = {Path(item.path).name for item in client.list_artifacts(run_id, _DIR)}
    if name not in listed:
        return None
    with tempfile.TemporaryDirectory(prefix="reprise-") as tmp, quiet_downloads():
        try:
            local = client.download_artifacts(run_id, f"{_DIR}/{name}", tmp)
        except (MlflowException, OSError) as exc:
            raise NotFoundError(f"cannot download {_DIR}/{name} of run {run_id}: {exc}") from exc
        return Path(local).read_bytes()


def _literal(value: str) -> str:
    return value.replace("'", "")


@contextlib.contextmanager
def _errors(what: str) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        raise TrackingError(f"{what}: {exc.message}") from exc
