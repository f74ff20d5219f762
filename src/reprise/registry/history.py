"""The registry's history: every registration, gate result, alias move, archive and export, with who and when.

Where it lives: in the MLflow tracking store the whole team already shares, as the experiment
``reprise-registry-events``, one run per event, the event's fields as run tags (``kind``, ``model``, ``version``,
``alias``, ``from_version``, ``to_version``, ``user``, ``host``, ``at``, ``details``...). The Reprise metadata store
will take these events over when it lands; until then this keeps them where everyone sees them, with no new server.

Why one run per event: writing an event creates a new row and never rewrites an old one, so concurrent writers (two
people promoting at once, CI and a laptop) cannot lose each other's events, as they would with a JSON log kept in one
tag (read, append, write back). Events are ordered by ``at``, a UTC timestamp with microseconds taken by the writer
right after its registry change succeeded, then by ``seq`` for the events one operation records together. Each alias
event also carries the version the writer saw holding the alias before (``from_version``), so an interleaving of two
writers within the same instant, or a move made outside Reprise, shows as a break in that chain.

"Who held alias X at time T" replays the alias's events up to T: the holder is the ``to_version`` of the last one.

Example:
    >>> alias_holder("obesity_classifier", "production", parse_time("2026-11-01T12:00"))  # doctest: +SKIP
    AliasHolding(model='obesity_classifier', alias='production', version=3, by='alice@build-01', ...)
"""

from __future__ import annotations

import contextlib
import getpass
import json
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from reprise._canonical import canonical_json
from reprise.config import load_settings
from reprise.errors import ConfigError, RegistryError, TrackingError
from reprise.registry._mlflow import filter_literal, mlflow_errors
from reprise.tracking._client import client_for, ensure_experiment

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from mlflow import MlflowClient

    from reprise.config import Settings

__all__ = [
    "Actor",
    "AliasHolding",
    "EVENTS_EXPERIMENT",
    "EventKind",
    "RegistryEvent",
    "alias_holder",
    "aliases_at",
    "make_event",
    "now_utc",
    "parse_time",
    "read_history",
    "record_events",
    "retract_events",
]

#: The MLflow experiment holding one run per registry event.
EVENTS_EXPERIMENT: Final = "reprise-registry-events"

EventKind = Literal["registered", "gate", "alias_set", "alias_removed", "archived", "unarchived", "exported"]

_SCHEMA: Final = "1"
_NOTE: Final = (
    "Reprise registry history: one run per registration, gate result, alias move, archive or export. "
    "Read it with `reprise registry history MODEL`; do not delete these runs."
)
_FIELDS: Final = ("kind", "model", "version", "alias", "from_version", "to_version", "user", "host", "at", "seq")


@dataclass(frozen=True)
class Actor:
    """Who did something: the OS user and the machine.

    Attributes:
        user: The login name.
        host: The host name.
    """

    user: str
    host: str

    def __str__(self) -> str:
        return f"{self.user}@{self.host}"

    @classmethod
    def current(cls) -> Actor:
        """The user and host running this process."""
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry (some containers)
            user = "unknown"
        return cls(user=user, host=socket.gethostname() or "unknown")


class RegistryEvent(BaseModel):
    """One thing that happened to a registered model.

    Attributes:
        id: Unique id of the event.
        kind: ``registered``, ``gate``, ``alias_set``, ``alias_removed``, ``archived``, ``unarchived``, ``exported``.
        model: The registered model.
        version: The version the event is about (for alias events: the version that gained or lost the alias).
        alias: The alias, for alias events.
        from_version: The version that held the alias before (None: nobody).
        to_version: The version that holds the alias after (None: nobody).
        user: Who (OS user).
        host: Where (host name).
        at: When (UTC).
        seq: Order among the events one operation records at the same instant.
        details: Anything else: gate results, run id, export folder, ``forced``...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: EventKind
    model: str
    version: int | None = None
    alias: str | None = None
    from_version: int | None = None
    to_version: int | None = None
    user: str
    host: str
    at: datetime
    seq: int = 0
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def actor(self) -> str:
        """``user@host``."""
        return f"{self.user}@{self.host}"

    def describe(self) -> str:
        """One line for people: what happened, without who and when."""
        version = f"v{self.version}" if self.version is not None else ""
        if self.kind in ("alias_set", "alias_removed"):
            before = "nobody" if self.from_version is None else f"v{self.from_version}"
            after = "nobody" if self.to_version is None else f"v{self.to_version}"
            forced = " (forced past failed gates)" if self.details.get("forced") else ""
            return f"{self.alias}: {before} → {after}{forced}"
        if self.kind == "gate":
            failures = self.details.get("failures")
            return f"{version} gates {self.details.get('status')}" + (f": {failures}" if failures else "")
        if self.kind == "registered":
            return f"{version} registered from run {self.details.get('run_id')}"
        if self.kind == "exported":
            return f"{version} exported to {self.details.get('to')}"
        return f"{version} {self.kind}"


class AliasHolding(BaseModel):
    """Which version held an alias at a moment, since when and who put it there.

    Attributes:
        model: The registered model.
        alias: The alias.
        at: The moment asked about (UTC).
        version: The version holding the alias then, None when nobody did.
        since: When that version got it (or when the alias was removed).
        by: ``user@host`` of the move.
        event_id: The event of the move.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    alias: str
    at: datetime
    version: int | None
    since: datetime | None = None
    by: str | None = None
    event_id: str | None = None


def now_utc(clock: Callable[[], datetime] | None = None) -> datetime:
    """The current time in UTC from ``clock`` (default: the system clock); a naive time is taken as UTC."""
    moment = clock() if clock is not None else datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """Parse an ISO time such as ``2026-11-01T12:00`` (no zone: UTC) or ``2026-11-01T12:00+01:00``.

    Raises:
        ConfigError: The text is not an ISO 8601 time.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(f"{text!r} is not an ISO time", hint="write e.g. 2026-11-01T12:00 (UTC)") from exc
    return now_utc(lambda: moment)


def make_event(
    kind: EventKind, model: str, *, actor: Actor, at: datetime, seq: int = 0, **fields: Any
) -> RegistryEvent:
    """Build an event with a fresh id (``fields``: version, alias, from_version, to_version, details)."""
    return RegistryEvent(
        id=uuid.uuid4().hex, kind=kind, model=model, user=actor.user, host=actor.host, at=at, seq=seq, **fields
    )


def record_events(settings: Settings, events: Sequence[RegistryEvent]) -> tuple[str, ...]:
    """Append ``events`` to the history (one MLflow run each, in ``reprise-registry-events``): all or none.

    Returns:
        The ids of the runs written, for :func:`retract_events`.

    Raises:
        RegistryError: The tracking store refused a write; the events this call had written are retracted.
    """
    if not events:
        return ()
    client = client_for(settings)
    experiment_id = _events_experiment(settings, client)
    written: list[str] = []
    try:
        with mlflow_errors("cannot record the registry history", hint="check the tracking store"):
            for event in events:
                millis = int(event.at.timestamp() * 1000)
                name = f"{event.kind} {event.model}" + ("" if event.version is None else f" v{event.version}")
                run = client.create_run(experiment_id, start_time=millis, tags=_to_tags(event), run_name=name)
                written.append(run.info.run_id)
                client.set_terminated(run.info.run_id, "FINISHED", end_time=millis)
    except RegistryError:
        retract_events(settings, written)
        raise
    return tuple(written)


def retract_events(settings: Settings, run_ids: Iterable[str]) -> None:
    """Delete the event runs ``run_ids`` (a change they recorded was not made); what cannot be deleted stays.

    MLflow keeps deleted runs until garbage collection, out of every search: the history no longer shows them.
    """
    client = client_for(settings)
    for run_id in run_ids:
        with contextlib.suppress(RegistryError), mlflow_errors(f"cannot retract registry event run {run_id}"):
            client.delete_run(run_id)


def read_history(
    model: str, *, alias: str | None = None, settings: Settings | None = None
) -> tuple[RegistryEvent, ...]:
    """Every recorded event of ``model`` (only those of ``alias`` when given), oldest first.

    Args:
        model: The registered model (it need not exist any more: history outlives it).
        alias: Keep only the moves of this alias.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The events in order; empty when nothing was recorded.
    """
    settings = settings or load_settings()
    client = client_for(settings)
    with mlflow_errors("cannot read registry history"):
        experiment = client.get_experiment_by_name(EVENTS_EXPERIMENT)
        if experiment is None:
            return ()
        # A value MLflow's filter cannot quote is left to the check on this side (_is_event_of).
        clauses = []
        for key, value in (("model", model), ("alias", alias)):
            literal = None if value is None else filter_literal(value)
            if literal is not None:
                clauses.append(f"tags.{key} = {literal}")
        query = " and ".join(clauses) or f"tags.`reprise.event` = '{_SCHEMA}'"
        events: list[RegistryEvent] = []
        token: str | None = None
        while True:
            page = client.search_runs([experiment.experiment_id], query, max_results=1000, page_token=token)
            events.extend(_from_tags(run.data.tags) for run in page if _is_event_of(run.data.tags, model, alias))
            token = page.token
            if not token:
                break
    return tuple(sorted(events, key=lambda event: (event.at, event.seq, event.id)))


def alias_holder(model: str, alias: str, at: datetime, *, settings: Settings | None = None) -> AliasHolding:
    """Which version of ``model`` held ``alias`` at ``at``, since when, and who moved it there.

    Args:
        model: The registered model.
        alias: The alias (``production``, ``champion``...).
        at: The moment (a naive time is UTC).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The holding; ``version`` is None when no version held the alias then.
    """
    moment = now_utc(lambda: at)
    return _replay(model, read_history(model, alias=alias, settings=settings), moment).get(
        alias, AliasHolding(model=model, alias=alias, at=moment, version=None)
    )


def aliases_at(model: str, at: datetime, *, settings: Settings | None = None) -> tuple[AliasHolding, ...]:
    """Every alias of ``model`` that had a holder at ``at`` (from the history), sorted by alias."""
    moment = now_utc(lambda: at)
    holdings = _replay(model, read_history(model, settings=settings), moment)
    return tuple(holding for _, holding in sorted(holdings.items()) if holding.version is not None)


def _replay(model: str, events: Iterable[RegistryEvent], at: datetime) -> dict[str, AliasHolding]:
    holdings: dict[str, AliasHolding] = {}
    for event in events:
        if event.at > at:
            break
        if event.kind in ("alias_set", "alias_removed") and event.alias is not None:
            holdings[event.alias] = AliasHolding(
                model=model,
                alias=event.alias,
                at=at,
                version=event.to_version,
                since=event.at,
                by=event.actor,
                event_id=event.id,
            )
    return holdings


def _events_experiment(settings: Settings, client: MlflowClient) -> str:
    with mlflow_errors("cannot open the registry history"):
        experiment = client.get_experiment_by_name(EVENTS_EXPERIMENT)
    if experiment is not None and experiment.lifecycle_stage == "active":
        return str(experiment.experiment_id)
    try:
        experiment_id = ensure_experiment(settings, EVENTS_EXPERIMENT)
    except TrackingError:
        # Another writer created it between our read and our create: use theirs.
        experiment_id = ensure_experiment(settings, EVENTS_EXPERIMENT)
    with mlflow_errors("cannot open the registry history"):
        client.set_experiment_tag(experiment_id, "mlflow.note.content", _NOTE)
    return experiment_id


def _is_event_of(tags: dict[str, str], model: str, alias: str | None) -> bool:
    if tags.get("reprise.event") != _SCHEMA or tags.get("model") != model:
        return False
    return alias is None or tags.get("alias") == alias


def _to_tags(event: RegistryEvent) -> dict[str, str]:
    values = event.model_dump(mode="json", exclude={"details", "id"})
    tags = {key: str(value) for key, value in values.items() if value is not None}
    tags.update(
        {
            "reprise.event": _SCHEMA,
            "event_id": event.id,
            "at": event.at.isoformat(timespec="microseconds"),
            "details": canonical_json(event.details),
            "mlflow.user": event.user,
        }
    )
    return tags


def _from_tags(tags: dict[str, str]) -> RegistryEvent:
    values: dict[str, Any] = {key: tags[key] for key in _FIELDS if key in tags}
    return RegistryEvent(id=tags["event_id"], details=json.loads(tags.get("details", "{}")), **values)
