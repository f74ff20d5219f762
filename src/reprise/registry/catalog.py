"""Registered models and their versions, read from the registry alone (no run is opened).

A version's stage is derived, never stored with MLflow's deprecated stage API: ``Production`` when it holds the
``production`` alias, else ``Staging`` when it holds ``staging``, else ``Archived`` when tagged
``reprise.stage=archived``, else ``None``. Its key metrics, git commit, data digest and gate status are the tags
written when it was registered (:mod:`reprise.registry.lifecycle`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from reprise.config import load_settings
from reprise.registry._mlflow import alias_map, all_versions, known_models, mlflow_errors, the_model
from reprise.tracking._client import client_for
from reprise.tracking._resident import read_through_resident

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from reprise.config import Settings

__all__ = [
    "ARCHIVED_TAG",
    "METRIC_TAG_PREFIX",
    "ModelSummary",
    "STAGE_ALIASES",
    "Stage",
    "UNKNOWN",
    "VersionInfo",
    "list_models",
    "list_versions",
    "version_info",
    "version_metrics",
]

#: The aliases that carry the stage names users know.
STAGE_ALIASES: Final[dict[str, str]] = {"staging": "Staging", "production": "Production"}
#: The version tag that marks an explicitly archived version.
ARCHIVED_TAG: Final = "reprise.stage"
#: Version tags holding the run's metrics at registration: ``metric.accuracy``...
METRIC_TAG_PREFIX: Final = "metric."
#: The value of a provenance tag Reprise could not determine.
UNKNOWN: Final = "unknown"

Stage = Literal["Production", "Staging", "Archived", "None"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VersionInfo(_Frozen):
    """One model version as the registry holds it.

    Attributes:
        name: The registered model.
        version: The version number.
        stage: ``Production``, ``Staging``, ``Archived`` or ``None`` (derived from aliases and tags).
        aliases: Every alias the version holds.
        validation_status: ``passed``, ``failed``, ``not_evaluated`` or ``unknown`` (registered outside Reprise).
        gate_failures: Which gates failed and by how much, when any did.
        metrics: The run's metrics at registration.
        run_id: The run that produced the model.
        model_id: The MLflow LoggedModel id, when known.
        model_type: The estimator class or flavour.
        training_date: When the run started (UTC).
        git_commit: The commit the model was trained from.
        data_digest: The digest of the run's declared inputs.
        source: Where MLflow stores the model's files.
        created_at: When the version was registered (UTC).
        tags: Every tag of the version.
    """

    name: str
    version: int
    stage: Stage
    aliases: tuple[str, ...] = ()
    validation_status: str = UNKNOWN
    gate_failures: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    run_id: str | None = None
    model_id: str | None = None
    model_type: str = UNKNOWN
    training_date: str = UNKNOWN
    git_commit: str = UNKNOWN
    data_digest: str = UNKNOWN
    source: str | None = None
    created_at: datetime
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name/version``."""
        return f"{self.name}/{self.version}"


class ModelSummary(_Frozen):
    """A registered model at a glance.

    Attributes:
        name: The registered model.
        versions: How many versions it has.
        latest_version: Its newest version, None when it has none.
        aliases: ``{alias: version}``.
        description: Its description, if any.
    """

    name: str
    versions: int
    latest_version: int | None
    aliases: dict[str, int] = Field(default_factory=dict)
    description: str | None = None


def list_models(*, settings: Settings | None = None) -> tuple[ModelSummary, ...]:
    """Every registered model with its version count and aliases, sorted by name.

    Args:
        settings: Project settings (default: loaded from the working directory).
    """
    return read_through_resident(_read_models, settings or load_settings())


def _read_models(settings: Settings) -> tuple[ModelSummary, ...]:
    """:func:`list_models` itself, in the resident process when it serves the store (MLflow is imported there)."""
    client = client_for(settings)
    summaries = []
    for name in known_models(client):
        with mlflow_errors(f"cannot read registered model '{name}'"):
            model = client.get_registered_model(name)
        numbers = [int(version.version) for version in all_versions(client, name)]
        summaries.append(
            ModelSummary(
                name=name,
                versions=len(numbers),
                latest_version=max(numbers, default=None),
                aliases=alias_map(model),
                description=model.description or None,
            )
        )
    return tuple(summaries)


def list_versions(name: str, *, settings: Settings | None = None) -> tuple[VersionInfo, ...]:
    """Every version of model ``name``, oldest first, with stage, aliases, gate status and key metrics.

    Args:
        name: The registered model.
        settings: Project settings (default: loaded from the working directory).

    Raises:
        NotFoundError: No such model; the message lists the known ones.
    """
    client = client_for(settings or load_settings())
    aliases = alias_map(the_model(client, name))
    return tuple(version_info(found, aliases) for found in all_versions(client, name))


def version_info(version: ModelVersion, aliases: dict[str, int]) -> VersionInfo:
    """Build a :class:`VersionInfo` from an MLflow version and its model's ``{alias: version}`` map."""
    number = int(version.version)
    tags: dict[str, str] = dict(version.tags or {})
    held = tuple(sorted(alias for alias, holder in aliases.items() if holder == number))
    metrics: dict[str, float] = {}
    for key, value in tags.items():
        if key.startswith(METRIC_TAG_PREFIX):
            try:
                metrics[key.removeprefix(METRIC_TAG_PREFIX)] = float(value)
            except ValueError:
                continue
    return VersionInfo(
        name=str(version.name),
        version=number,
        stage=_stage(held, tags),
        aliases=held,
        validation_status=tags.get("validation_status", UNKNOWN),
        gate_failures=tags.get("gate_failures") or None,
        metrics=dict(sorted(metrics.items())),
        run_id=version.run_id or None,
        model_id=tags.get("reprise.model_id") or getattr(version, "model_id", None) or None,
        model_type=tags.get("model_type", UNKNOWN),
        training_date=tags.get("training_date", UNKNOWN),
        git_commit=tags.get("git_commit", UNKNOWN),
        data_digest=tags.get("data_digest", UNKNOWN),
        source=version.source or None,
        created_at=_from_millis(version.creation_timestamp),
        tags=dict(sorted(tags.items())),
    )


def version_metrics(client: MlflowClient, info: VersionInfo) -> dict[str, float]:
    """A version's metrics: its ``metric.*`` tags, or its run's metrics when it was registered outside Reprise."""
    if info.metrics or info.run_id is None:
        return info.metrics
    from mlflow.exceptions import MlflowException

    try:
        return dict(sorted(client.get_run(info.run_id).data.metrics.items()))
    except MlflowException:  # the run was deleted: the version simply has no metrics to show
        return {}


def _stage(aliases: tuple[str, ...], tags: dict[str, str]) -> Stage:
    if "production" in aliases:
        return "Production"
    if "staging" in aliases:
        return "Staging"
    if tags.get(ARCHIVED_TAG) == "archived":
        return "Archived"
    return "None"


def _from_millis(millis: Any) -> datetime:
    return datetime.fromtimestamp(int(millis or 0) / 1000, tz=UTC)
