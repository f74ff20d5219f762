"""What a model reference names, for the prediction service: the version it points at now, and its provenance.

The one home of "reference → version → provenance": ``reprise serve`` resolves through here, on the same lookups
(:func:`reprise.registry._mlflow.resolve_number`) as ``reprise.load_model`` and ``reprise registry export``. Unknown
models, versions and aliases fail as :class:`~reprise.errors.NotFoundError` listing the known ones, other registry
failures as :class:`~reprise.errors.RegistryError`. Reading where an alias points is one registry query, so a server
can poll it to notice a move.

Example:
    >>> number = target_version(settings, "iris", "champion")  # doctest: +SKIP
    >>> describe_version(settings, "iris", number, alias="champion").git_commit  # doctest: +SKIP
    '4c7db37...'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reprise.registry._mlflow import resolve_number, the_version
from reprise.registry._provenance import captured_run
from reprise.registry.catalog import METRIC_TAG_PREFIX, UNKNOWN
from reprise.registry.refs import ModelRef
from reprise.tracking._client import client_for
from reprise.tracking.serving import ServedVersion

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlflow import MlflowClient

    from reprise.config import Settings

__all__ = ["describe_version", "target_version"]


def target_version(settings: Settings, name: str, alias: str | None) -> int:
    """The version number ``alias`` of model ``name`` points at, or its latest version when ``alias`` is None.

    Raises:
        NotFoundError: No such model or alias (the message lists the known ones), or the model has no version.
        RegistryError: The registry could not be read.
    """
    return resolve_number(client_for(settings), ModelRef(name=name, alias=alias))


def describe_version(settings: Settings, name: str, version: int, *, alias: str | None = None) -> ServedVersion:
    """Version ``version`` of model ``name`` with its provenance.

    Git commit, data digest and model type come from the version's tags (written by ``reprise registry
    register``), else from the ``reprise.*`` tags of its run or of the captured run above it; metrics come from the
    run, else from the version's ``metric.*`` tags.

    Raises:
        NotFoundError: No such model or version (the message lists the known ones).
        RegistryError: The registry could not be read.
    """
    client = client_for(settings)
    found = the_version(client, name, version)
    tags = {str(key): str(value) for key, value in (found.tags or {}).items()}
    run_tags, metrics = _run_provenance(client, found.run_id)
    return ServedVersion(
        name=name,
        version=int(found.version),
        alias=alias,
        run_id=found.run_id or None,
        source=str(found.source or ""),
        model_id=getattr(found, "model_id", None) or tags.get("reprise.model_id") or None,
        git_commit=_known(tags.get("git_commit")) or _known(run_tags.get("reprise.git_commit")) or UNKNOWN,
        data_digest=_known(tags.get("data_digest")) or _known(run_tags.get("reprise.data_digest")) or UNKNOWN,
        model_type=_known(tags.get("model_type")) or _known(run_tags.get("estimator_name")) or UNKNOWN,
        metrics=metrics or _metric_tags(tags),
    )


def _run_provenance(client: MlflowClient, run_id: str | None) -> tuple[dict[str, str], dict[str, float]]:
    """The tags of the run (overlaid with those of the captured run at or above it), and the run's own metrics."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        return {}, {}
    try:
        run = client.get_run(run_id)
    except MlflowException:  # the run was deleted: the version is still servable, its provenance unknown
        return {}, {}
    metrics = {str(key): float(value) for key, value in sorted(run.data.metrics.items())}
    captured = captured_run(client, run)
    tags = dict(run.data.tags)
    return ({**tags, **captured.data.tags} if captured is not None else tags), metrics


def _metric_tags(tags: Mapping[str, str]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, value in sorted(tags.items()):
        if key.startswith(METRIC_TAG_PREFIX):
            try:
                metrics[key.removeprefix(METRIC_TAG_PREFIX)] = float(value)
            except ValueError:
                continue
    return metrics


def _known(value: str | None) -> str | None:
    return value if value and value != UNKNOWN else None
