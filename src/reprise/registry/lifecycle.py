"""Register a run's model, gate it, move it through stages, and load it back: the registry lifecycle.

Stages are aliases plus tags, never MLflow's deprecated stage API: ``Staging`` and ``Production`` are the
``staging`` and ``production`` aliases, ``Archived`` is the version tag ``reprise.stage=archived``; ``champion``,
``challenger``, ``baseline`` or any other alias work the same way. An alias is held by one version at a time, so
moving it takes it from the version that had it: the result (and the history) says which, and nothing is archived
unless asked for. Every change is recorded in the history (:mod:`reprise.registry.history`).

Example:
    >>> registration = reprise.register_model(run.run_id, "obesity_classifier")  # doctest: +SKIP
    >>> print(registration.describe())                                            # doctest: +SKIP
    registered obesity_classifier v3 from run 5f2c... (RandomForestClassifier, git 4c7db37, data sha256:9b1f...)
    gates passed: accuracy >= 0.85 (actual 0.93), f1_macro >= 0.8 (actual 0.91) → staging: v2 → v3 (v2 lost ...)
    >>> model = reprise.load_model("obesity_classifier@champion")                  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field

from reprise._canonical import canonical_json
from reprise.config import load_settings
from reprise.errors import GateFailedError, NotFoundError, RegistryError
from reprise.registry._mlflow import alias_map, mlflow_errors, resolve_version, the_model, the_version
from reprise.registry._provenance import find_model, read_model_meta, read_provenance
from reprise.registry.catalog import ARCHIVED_TAG, METRIC_TAG_PREFIX, STAGE_ALIASES, version_info
from reprise.registry.gates import Gate, GateReport, evaluate_gates, load_gates, parse_gate
from reprise.registry.history import Actor, make_event
from reprise.registry.moves import AliasMove, alias_event, alias_moves
from reprise.registry.refs import parse_model_ref, version_ref
from reprise.tracking._client import client_for

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from mlflow import MlflowClient
    from mlflow.pyfunc import PyFuncModel

    from reprise.config import Settings

__all__ = [
    "AliasMove",
    "Promotion",
    "Registration",
    "load_model",
    "promote_model",
    "register_model",
    "set_model_alias",
]

#: At most this many run metrics are copied to a version's tags.
_MAX_METRIC_TAGS: Final = 100


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Promotion(_Frozen):
    """What ``promote_model`` did to one version.

    Attributes:
        model: The registered model.
        version: The version promoted (or archived).
        stage: The target: an alias (``staging``, ``production``, ``champion``...) or ``archived``.
        moves: The alias changes made.
        archived: Whether the version is now archived.
        unarchived: Whether promoting it lifted an earlier archive.
        kept_aliases: For an archive: the aliases the version still holds (only staging/production are removed).
    """

    model: str
    version: int
    stage: str
    moves: tuple[AliasMove, ...] = ()
    archived: bool = False
    unarchived: bool = False
    kept_aliases: tuple[str, ...] = ()
    changed: bool = False

    def describe(self) -> str:
        """What happened, one line per change."""
        lines = [move.describe() for move in self.moves]
        if self.stage == "archived":
            lines.append(f"v{self.version} archived" if self.changed else f"v{self.version} was already archived")
            if self.kept_aliases:
                lines.append(f"v{self.version} still holds: {', '.join(self.kept_aliases)}")
        if self.unarchived:
            lines.append(f"v{self.version} is no longer archived")
        return "\n".join(f"{self.model} {line}" for line in lines)


class Registration(_Frozen):
    """A model version just registered, its gate results and its automatic staging.

    Attributes:
        model: The registered model.
        version: The new version.
        run_id: The run that produced it.
        model_id: The MLflow LoggedModel id, when it is one.
        source: Where MLflow stores its files.
        tags: The tags written on the version.
        gates: Every gate's result (``gates.status``: passed, failed, not_evaluated).
        staging: The move of the ``staging`` alias, when every gate passed.
        has_signature: Whether the logged model carries a signature.
        has_input_example: Whether it carries an input example.
    """

    model: str
    version: int
    run_id: str
    model_id: str | None
    source: str
    tags: dict[str, str] = Field(default_factory=dict)
    gates: GateReport
    staging: AliasMove | None = None
    has_signature: bool = False
    has_input_example: bool = False

    def describe(self) -> str:
        """A few lines for the train stage to print: what was registered, how the gates went, what moved."""
        tags = self.tags
        lines = [
            f"registered {self.model} v{self.version} from run {self.run_id} ({tags.get('model_type')}, "
            f"git {tags.get('git_commit', '')[:12]}, data {tags.get('data_digest', '')[:19]})"
        ]
        if self.gates.status == "not_evaluated":
            lines.append("no quality gates configured ([gates] in reprise.toml or gates: in params.yaml): not staged")
        elif self.gates.passed:
            checks = ", ".join(f"{result.gate} (actual {result.actual:.6g})" for result in self.gates.results)
            staged = self.staging.describe() if self.staging is not None else "staging unchanged"
            lines.append(f"gates passed: {checks} → {staged}")
        else:
            lines.append(f"gates FAILED: {self.gates.describe_failures()}; not staged")
        if not self.has_signature:
            lines.append("warning: the model has no signature (log it with reprise.log_model or signature=...)")
        return "\n".join(lines)


def register_model(
    run_id: str,
    name: str,
    *,
    artifact_path: str = "model",
    gates: Sequence[Gate | str] | None = None,
    model_type: str | None = None,
    settings: Settings | None = None,
    actor: Actor | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Registration:
    """Register the model logged in run ``run_id`` as a new version of ``name``, gate it, and stage it if it passes.

    The version is tagged ``model_type``, ``training_date``, ``git_commit``, ``data_digest``, ``validation_status``
    (and ``gate_failures`` when a gate fails) and ``metric.<name>`` for each run metric, so the registry reads
    without opening runs. A version that passes every gate gets the ``staging`` alias; a failed gate is not an
    exception (raise :class:`~reprise.errors.GateFailedError` yourself to enforce).

    Args:
        run_id: The MLflow run that logged the model (a nested run works: provenance comes from its captured parent).
        name: The registered model (created if new).
        artifact_path: The model's name in the run (``mlflow.<flavor>.log_model(name=...)``).
        gates: The gates to apply (default: the project's, from ``reprise.toml`` and ``params.yaml``).
        model_type: The model's type (default: the autologged estimator class, else the MLflow flavour).
        settings: Project settings (default: loaded from the working directory).
        actor: Who is registering (default: this user and host), for the history.
        clock: The time source for the history (default: the system clock, UTC).

    Returns:
        The registration; ``registration.describe()`` is a summary to print.

    Raises:
        NotFoundError: The run does not exist or logged no such model.
        ConfigError: A gate is malformed.
        RegistryError: The registry refused the registration.

    Example:
        >>> registration = reprise.register_model(run.run_id, "obesity_classifier")  # doctest: +SKIP
        >>> registration.version, registration.gates.status                            # doctest: +SKIP
        (3, 'passed')
    """
    from mlflow.exceptions import MlflowException

    settings = settings or load_settings()
    client = client_for(settings)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise NotFoundError(f"no run {run_id} in the tracking store", hint="check the run id in `mlflow ui`") from exc
    location = find_model(client, run, artifact_path)
    meta = read_model_meta(settings, location.source)
    provenance = read_provenance(settings, client, run, location, meta)
    chosen = _gates(settings, gates)
    metrics: dict[str, float] = dict(sorted(run.data.metrics.items()))
    report = evaluate_gates(chosen, metrics)
    who = actor or Actor.current()
    tags = {
        "model_type": model_type or provenance.model_type,
        "training_date": provenance.training_date,
        "git_commit": provenance.git_commit,
        "data_digest": provenance.data_digest,
        "validation_status": report.status,
        "reprise.git_dirty": provenance.git_dirty,
        "reprise.registered_by": str(who),
        **{f"{METRIC_TAG_PREFIX}{key}": repr(float(value)) for key, value in list(metrics.items())[:_MAX_METRIC_TAGS]},
    }
    if location.model_id:
        tags["reprise.model_id"] = location.model_id
    if report.evaluated:
        tags["reprise.gates"] = canonical_json(report.model_dump(mode="json"))
    if report.failures:
        tags["gate_failures"] = report.describe_failures()
    _ensure_model(client, name)
    with mlflow_errors(f"cannot register a version of '{name}'"):
        created = client.create_model_version(
            name, location.source, run_id=run_id, tags=tags, model_id=location.model_id
        )
    version = int(created.version)
    with alias_moves(settings, client, name) as moves:
        staging = moves.plan("staging", version) if report.passed else None
        at = moves.time(clock)
        details: dict[str, Any] = {"run_id": run_id, "source": location.source, "model_id": location.model_id}
        events = [make_event("registered", name, actor=who, at=at, version=version, details=details)]
        if report.evaluated:
            gate_details = {"status": report.status, "failures": report.describe_failures()}
            events.append(make_event("gate", name, actor=who, at=at, seq=1, version=version, details=gate_details))
        if staging is not None and staging.changed:
            events.append(alias_event(staging, who, at, seq=2))
        moves.commit(events)
    return Registration(
        model=name,
        version=version,
        run_id=run_id,
        model_id=location.model_id,
        source=location.source,
        tags=tags,
        gates=report,
        staging=staging,
        has_signature=getattr(meta, "signature", None) is not None,
        has_input_example=getattr(meta, "saved_input_example_info", None) is not None,
    )


def promote_model(
    name: str,
    version: int | str,
    stage: str,
    *,
    force: bool = False,
    settings: Settings | None = None,
    actor: Actor | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Promotion:
    """Promote version ``version`` of ``name`` to ``stage``: ``Staging``, ``Production``, ``Archived`` or any alias.

    Promoting moves the alias to this version (the version that held it loses it and is named in the result;
    nothing is archived silently) and lifts an earlier archive. ``Archived`` tags the version
    ``reprise.stage=archived`` and removes the ``staging`` and ``production`` aliases from it; other aliases stay
    and are listed. A version whose gates failed is not promoted unless ``force``.

    Args:
        name: The registered model.
        version: A version number (``3``, ``"v3"``) or an alias naming one (``"@staging"``).
        stage: ``Staging``, ``Production``, ``Archived`` (any case) or another alias (``champion``...).
        force: Promote even though the version failed its gates (recorded in the history).
        settings: Project settings (default: loaded from the working directory).
        actor: Who is promoting (default: this user and host).
        clock: The time source for the history (default: the system clock, UTC).

    Returns:
        What changed.

    Raises:
        NotFoundError: No such model, version or alias; the message lists the known ones.
        GateFailedError: The version failed its gates and ``force`` is False.
        RegistryError: The alias name is invalid or the registry refused the change.

    Example:
        >>> print(reprise.promote_model("obesity_classifier", 3, "Production").describe())  # doctest: +SKIP
        obesity_classifier production: v2 → v3 (v2 lost the alias; it is not archived)
    """
    settings = settings or load_settings()
    client = client_for(settings)
    target = _target(stage)
    number = _version_number(client, name, version)
    info = version_info(the_version(client, name, number), alias_map(the_model(client, name)))
    who = actor or Actor.current()
    if target == "archived":
        return _archive(settings, client, info.name, number, info.stage == "Archived", who, clock)
    forced = info.validation_status == "failed"
    if forced and not force:
        raise GateFailedError(
            f"{name} v{number} failed its quality gates ({info.gate_failures}); not promoted to {stage}",
            hint=f"reprise registry promote {name} {number} {stage} --force",
        )
    unarchived = info.stage == "Archived"
    with alias_moves(settings, client, name) as moves:
        move = moves.plan(target, number, forced=forced)
        at = moves.time(clock)
        events = [alias_event(move, who, at)] if move.changed else []
        if unarchived:
            events.append(make_event("unarchived", name, actor=who, at=at, seq=1, version=number))
        moves.commit(events)
        if unarchived:
            with mlflow_errors(f"cannot unarchive {name} v{number}"):
                client.delete_model_version_tag(name, str(number), ARCHIVED_TAG)
    return Promotion(
        model=name, version=number, stage=target, moves=(move,), unarchived=unarchived, changed=bool(events)
    )


def set_model_alias(
    name: str,
    alias: str,
    version: int | str,
    *,
    settings: Settings | None = None,
    actor: Actor | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AliasMove:
    """Point ``alias`` of ``name`` at ``version``, taking it from the version that held it (no gate check).

    Args:
        name: The registered model.
        alias: Any alias (``champion``, ``challenger``, ``baseline``...).
        version: A version number or an alias naming one.
        settings: Project settings (default: loaded from the working directory).
        actor: Who is moving it (default: this user and host).
        clock: The time source for the history (default: the system clock, UTC).

    Returns:
        The move, naming the version that lost the alias.

    Raises:
        NotFoundError: No such model, version or alias.
        RegistryError: The alias name is invalid (``latest`` and ``v<N>`` are reserved) or the registry refused.
    """
    settings = settings or load_settings()
    client = client_for(settings)
    number = _version_number(client, name, version)
    the_version(client, name, number)
    with alias_moves(settings, client, name) as moves:
        move = moves.plan(_target(alias), number)
        if move.changed:
            moves.commit([alias_event(move, actor or Actor.current(), moves.time(clock))])
    return move


def load_model(ref: str, *, settings: Settings | None = None) -> PyFuncModel:
    """Load a registered model as an MLflow pyfunc: ``name@alias``, ``name/3`` or ``name`` (its latest version).

    Args:
        ref: The model reference (``models:/`` prefix optional; ``name/Production`` reads the alias).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The model; ``model.predict(frame)`` answers, ``model.metadata`` holds signature and run id.

    Raises:
        NotFoundError: No such model, version or alias; the message lists the known ones.
        RegistryError: The reference is malformed or the model cannot be loaded.

    Example:
        >>> model = reprise.load_model("obesity_classifier@champion")  # doctest: +SKIP
        >>> model.predict(X_test.head())                                # doctest: +SKIP
    """
    settings = settings or load_settings()
    client = client_for(settings)
    found = resolve_version(client, parse_model_ref(ref))
    import mlflow.pyfunc
    from mlflow.artifacts import download_artifacts

    with mlflow_errors(f"cannot load {ref}"):
        uri = client.get_model_version_download_uri(found.name, found.version)
        local = download_artifacts(artifact_uri=uri, tracking_uri=settings.tracking_uri)
        model: PyFuncModel = mlflow.pyfunc.load_model(local)
    return model


def _archive(
    settings: Settings,
    client: MlflowClient,
    name: str,
    number: int,
    already: bool,
    who: Actor,
    clock: Callable[[], datetime] | None,
) -> Promotion:
    with alias_moves(settings, client, name) as moves:
        held = tuple(alias for alias, version in moves.holders.items() if version == number)
        planned = [moves.plan(alias, None) for alias in held if alias in STAGE_ALIASES]
        at = moves.time(clock)
        events = [alias_event(move, who, at, seq=index) for index, move in enumerate(planned)]
        if not already:
            events.append(make_event("archived", name, actor=who, at=at, seq=len(planned), version=number))
        moves.commit(events)
        if not already:
            with mlflow_errors(f"cannot archive {name} v{number}"):
                client.set_model_version_tag(name, str(number), ARCHIVED_TAG, "archived")
    kept = tuple(alias for alias in held if alias not in STAGE_ALIASES)
    return Promotion(
        model=name,
        version=number,
        stage="archived",
        moves=tuple(planned),
        archived=True,
        kept_aliases=kept,
        changed=bool(events),
    )


def _ensure_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise RegistryError(f"cannot create registered model '{name}': {exc.message}") from exc


def _gates(settings: Settings, gates: Sequence[Gate | str] | None) -> tuple[Gate, ...]:
    if gates is None:
        return load_gates(settings.project_dir)
    return tuple(
        gate if isinstance(gate, Gate) else parse_gate(gate, where=f"register_model(gates=...)[{index}]")
        for index, gate in enumerate(gates)
    )


def _target(stage: str) -> str:
    """``Staging``/``Production`` (any case) to their aliases, ``Archived`` to ``archived``, other aliases as given."""
    word = stage.strip()
    if word.lower() in (*STAGE_ALIASES, "archived"):
        return word.lower()
    if word.lower() == "none":
        raise RegistryError("'None' is not a stage to promote to", hint="to retire a version, promote it to Archived")
    if not word:
        raise RegistryError("no stage or alias given", hint="Staging, Production, Archived or an alias name")
    return word


def _version_number(client: MlflowClient, name: str, version: int | str) -> int:
    ref = version_ref(name, version)
    return ref.version if ref.version is not None else int(resolve_version(client, ref).version)
