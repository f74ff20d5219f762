"""The registry's history: every registration, gate result, alias move, archive and export, with who and when.

Where it lives: in the Reprise metadata store (``reprise_registry_events``), the one home of every fact Reprise owns,
so a query can join it with data versions, lineage and reproductions. A registration also records its lineage edge
(``run:<id> -> model:<name>/<version>``) in the same transaction. Reprise up to 0.1 kept these events as runs of the
MLflow experiment ``reprise-registry-events``; the first use of a store imports them once (``_import_once``), and the
experiment is left as it was (hidden from ``reprise runs``).

Events are appended, never rewritten, so concurrent writers (two people promoting at once, CI and a laptop) cannot
lose each other's events. They are ordered by ``at``, a UTC timestamp with microseconds taken by the writer right after
its registry change succeeded, then by ``seq`` for the events one operation records together. Each alias event also
carries the version the writer saw holding the alias before (``from_version``), so an interleaving of two writers
within the same instant, or a move made outside Reprise, shows as a break in that chain.

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

from reprise.config import load_settings
from reprise.errors import ConfigError, RepriseError
from reprise.registry._mlflow import mlflow_errors
from reprise.store.db import open_store
from reprise.tracking._client import client_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from reprise.config import Settings
    from reprise.store.lineage import Edge
    from reprise.store.registry_events import EventRow

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

#: The MLflow experiment where Reprise 0.1 kept one run per registry event (imported once, then only read).
EVENTS_EXPERIMENT: Final = "reprise-registry-events"

EventKind = Literal["registered", "gate", "alias_set", "alias_removed", "archived", "unarchived", "exported"]

_SCHEMA: Final = "1"
_IMPORT_MARKER: Final = "registry-events-from-mlflow"
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
    """Append ``events`` to the history in one transaction (all or none), with the lineage of registrations.

    Returns:
        The ids of the events written, for :func:`retract_events`.

    Raises:
        StoreError: The metadata store refused the write (nothing was written).
    """
    if not events:
        return ()
    from reprise.store.registry_events import insert_events

    _import_once(settings)
    insert_events(open_store(settings), [_to_row(event) for event in events], edges=_registration_edges(events))
    return tuple(event.id for event in events)


def retract_events(settings: Settings, event_ids: Iterable[str]) -> None:
    """Remove the events ``event_ids`` (a change they recorded was not made); what cannot be removed stays."""
    from reprise.store.registry_events import delete_events

    with contextlib.suppress(RepriseError):
        delete_events(open_store(settings), event_ids)


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
    from reprise.store.registry_events import list_events

    settings = settings or load_settings()
    _import_once(settings)
    rows = list_events(open_store(settings), model, alias)
    return tuple(_from_row(row) for row in rows)


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


def _import_once(settings: Settings) -> None:
    """Bring the events an older Reprise kept as MLflow runs into the store (on first use, once per store)."""
    from reprise.store.markers import marked
    from reprise.store.registry_events import insert_events

    engine = open_store(settings)
    if marked(engine, _IMPORT_MARKER):
        return
    events = _mlflow_events(settings)
    edges = _registration_edges(events)
    insert_events(engine, [_to_row(event) for event in events], edges=edges, marker=(_IMPORT_MARKER, f"{len(events)}"))


def _registration_edges(events: Iterable[RegistryEvent]) -> list[Edge]:
    from reprise.store.lineage import Edge, node

    return [
        Edge(node("run", str(event.details["run_id"])), node("model", f"{event.model}/{event.version}"), "produced")
        for event in events
        if event.kind == "registered" and event.details.get("run_id") and event.version is not None
    ]


def _mlflow_events(settings: Settings) -> list[RegistryEvent]:
    """The events kept as runs of :data:`EVENTS_EXPERIMENT` by Reprise 0.1 (none when it does not exist)."""
    client = client_for(settings)
    with mlflow_errors("cannot read the registry history kept in MLflow"):
        experiment = client.get_experiment_by_name(EVENTS_EXPERIMENT)
        if experiment is None:
            return []
        events: list[RegistryEvent] = []
        token: str | None = None
        while True:
            page = client.search_runs(
                [experiment.experiment_id], f"tags.`reprise.event` = '{_SCHEMA}'", max_results=1000, page_token=token
            )
            events.extend(_from_tags(run.data.tags) for run in page if "event_id" in run.data.tags)
            token = page.token
            if not token:
                return events


def _from_tags(tags: dict[str, str]) -> RegistryEvent:
    values: dict[str, Any] = {key: tags[key] for key in _FIELDS if key in tags}
    return RegistryEvent(id=tags["event_id"], details=json.loads(tags.get("details", "{}")), **values)


def _to_row(event: RegistryEvent) -> EventRow:
    from reprise.store.registry_events import EventRow

    values = event.model_dump(exclude={"id"})
    return EventRow(event_id=event.id, **values)


def _from_row(row: EventRow) -> RegistryEvent:
    values = {key: value for key, value in row.__dict__.items() if key != "event_id"}
    return RegistryEvent(id=row.event_id, **values)
