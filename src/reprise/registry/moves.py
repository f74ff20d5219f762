"""Alias moves as one step: per-model lock, read the holders, record the events, set the aliases.

Every change of an alias (register's staging, promote, ``registry alias``, archive) goes through
:func:`alias_moves`. It serialises the moves of one model across threads, processes and machines, and inside that:

1. reads who holds each alias now (never a value read before the lock),
2. records the events (``from_version`` = that holder),
3. makes the alias changes; if the registry refuses one, the events just recorded are retracted (their runs deleted).

So the history's chain holds for each alias: every event's ``from_version`` is the previous event's ``to_version``
and the last ``to_version`` is the holder, however many writers move it at once. A move made outside Reprise (the
MLflow UI) still shows as a break in the chain.

The lock, keyed by the tracking store and the model:

* a PostgreSQL advisory lock when the tracking store is PostgreSQL (in that database), else when the Reprise
  metadata store is (``store_uri``): every machine sharing it is serialised;
* else a lock file: beside the database for a SQLite tracking store (every process using that file), else under
  the project's ``.reprise/locks`` (processes of this project on this machine; a team using a tracking server
  should set a PostgreSQL ``store_uri`` so that moves serialise between machines).

Event times are strictly increasing per alias, whatever the writers' clocks say: each move stores its time in the
model tag ``reprise.moved_at.<alias>``, and the next move of that alias is dated at least a microsecond later.

Example:
    >>> with alias_moves(settings, client, "iris") as moves:  # doctest: +SKIP
    ...     move = moves.plan("production", 3)
    ...     at = moves.time(None)
    ...     moves.commit([alias_event(move, Actor.current(), at)])
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

from reprise.errors import RegistryError, RepriseError
from reprise.registry._mlflow import alias_map, mlflow_errors, the_model
from reprise.registry.history import Actor, RegistryEvent, make_event, now_utc, record_events, retract_events

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from mlflow import MlflowClient

    from reprise.config import Settings

__all__ = ["MOVED_AT_TAG", "AliasMove", "AliasMoves", "alias_event", "alias_moves", "move_lock"]

#: Registered-model tag prefix: ``reprise.moved_at.<alias>`` holds the time of the alias's last recorded move.
MOVED_AT_TAG: Final = "reprise.moved_at."
#: Longest wait for another move of the same model, in seconds.
LOCK_TIMEOUT: Final = 120.0


class AliasMove(BaseModel):
    """An alias moving from one version to another (None: no version).

    Attributes:
        model: The registered model.
        alias: The alias.
        from_version: The version that held it before.
        to_version: The version that holds it after.
        forced: Whether the move overrode failed gates.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    forced: bool = False

    @property
    def changed(self) -> bool:
        """False when the alias already pointed where it was asked to."""
        return self.from_version != self.to_version

    def describe(self) -> str:
        """One line: ``production: v2 → v3 (v2 lost the alias; it is not archived)``."""
        if not self.changed:
            return f"{self.alias}: already v{self.to_version}, nothing to do"
        if self.to_version is None:
            return f"{self.alias}: removed from v{self.from_version}"
        if self.from_version is None:
            return f"{self.alias}: → v{self.to_version}"
        lost = f" (v{self.from_version} lost the alias; it is not archived)"
        return f"{self.alias}: v{self.from_version} → v{self.to_version}{lost}"


class AliasMoves:
    """The moves of one model being made under its lock (from :func:`alias_moves`).

    Attributes:
        holders: ``{alias: version}`` as read under the lock.
    """

    def __init__(self, settings: Settings, client: MlflowClient, name: str) -> None:
        self._settings = settings
        self._client = client
        self._name = name
        model = the_model(client, name)
        self.holders: dict[str, int] = alias_map(model)
        self._moved_at = {
            str(key).removeprefix(MOVED_AT_TAG): str(value)
            for key, value in (model.tags or {}).items()
            if str(key).startswith(MOVED_AT_TAG)
        }
        self._planned: list[AliasMove] = []

    def plan(self, alias: str, version: int | None, *, forced: bool = False) -> AliasMove:
        """The move of ``alias`` to ``version`` (None: remove it) from its current holder; made by :meth:`commit`."""
        move = AliasMove(
            model=self._name, alias=alias, from_version=self.holders.get(alias), to_version=version, forced=forced
        )
        if move.changed:
            self._planned.append(move)
        return move

    def time(self, clock: Callable[[], datetime] | None) -> datetime:
        """The time of the planned moves: ``clock``'s, or just after the last recorded move of a planned alias."""
        at = now_utc(clock)
        for move in self._planned:
            last = _parse(self._moved_at.get(move.alias))
            if last is not None and at <= last:
                at = last + timedelta(microseconds=1)
        return at

    def commit(self, events: Sequence[RegistryEvent]) -> None:
        """Record ``events``, then make the planned moves; if a move fails, retract the events and raise.

        Raises:
            RegistryError: The registry refused a move (the history is left as it was).
            TrackingError: The events could not be recorded (no move was made).
        """
        written = record_events(self._settings, events)
        made: list[AliasMove] = []
        try:
            for move in self._planned:
                self._apply(move.alias, move.to_version)
                made.append(move)
        except RepriseError:
            for move in reversed(made):  # undo what was made, so that state and history still agree
                with contextlib.suppress(RepriseError):
                    self._apply(move.alias, move.from_version)
            with contextlib.suppress(RepriseError):
                retract_events(self._settings, written)
            raise
        stamps = {move.alias: at for move in self._planned for at in _times(events, move.alias)}
        for alias, at in stamps.items():
            # The stamp is a floor for the next move's time, not a fact: failing to write it changes nothing.
            with contextlib.suppress(RepriseError), mlflow_errors(f"cannot stamp the move of '{alias}'"):
                self._client.set_registered_model_tag(self._name, f"{MOVED_AT_TAG}{alias}", at.isoformat())
        self._planned.clear()

    def _apply(self, alias: str, version: int | None) -> None:
        if version is None:
            with mlflow_errors(f"cannot remove alias '{alias}' of {self._name}"):
                self._client.delete_registered_model_alias(self._name, alias)
        else:
            with mlflow_errors(f"cannot set alias '{alias}' of {self._name} to v{version}"):
                self._client.set_registered_model_alias(self._name, alias, str(version))


@contextlib.contextmanager
def alias_moves(settings: Settings, client: MlflowClient, name: str) -> Iterator[AliasMoves]:
    """Hold the move lock of model ``name`` and read its aliases: plan, date and commit moves inside the block.

    Raises:
        NotFoundError: No such model.
        RegistryError: Another move of the model held the lock for too long.
    """
    with move_lock(settings, name):
        yield AliasMoves(settings, client, name)


@contextlib.contextmanager
def move_lock(settings: Settings, name: str, *, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """The lock serialising alias moves of model ``name`` in the project's tracking store (see the module doc).

    Raises:
        RegistryError: Another move held it for ``timeout`` seconds.
        ConfigError: The PostgreSQL database holding the lock cannot be reached.
    """
    from reprise.store.locks import advisory_lock, file_lock, is_postgres

    store = _store_identity(settings.tracking_uri)
    key = f"reprise.registry.move\n{store}\n{name}"
    database = next((uri for uri in (settings.tracking_uri, settings.store_uri) if is_postgres(uri)), None)
    lock: contextlib.AbstractContextManager[None]
    if database is not None:
        lock = advisory_lock(database, key, timeout=timeout)
    else:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        lock = file_lock(_lock_dir(settings) / f"registry-{digest}.lock", timeout=timeout)
    try:
        with lock:
            yield
    except TimeoutError as exc:
        raise RegistryError(
            f"another alias move of '{name}' has been in progress for {timeout:g} s; nothing was changed",
            hint="retry; if no `reprise registry` command is running, check the tracking store",
        ) from exc


def alias_event(move: AliasMove, who: Actor, at: datetime, *, seq: int = 0) -> RegistryEvent:
    """The history event of ``move``: ``alias_set``, or ``alias_removed`` when nobody holds the alias after it."""
    return make_event(
        "alias_set" if move.to_version is not None else "alias_removed",
        move.model,
        actor=who,
        at=at,
        seq=seq,
        version=move.to_version if move.to_version is not None else move.from_version,
        alias=move.alias,
        from_version=move.from_version,
        to_version=move.to_version,
        details={"forced": True} if move.forced else {},
    )


def _lock_dir(settings: Settings) -> Path:
    """Beside a SQLite tracking database (whoever uses that file), else the project's ``.reprise/locks``."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and ":memory:" not in uri:
        return Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).resolve().parent / "locks"
    return settings.state_dir / "locks"


def _store_identity(uri: str) -> str:
    """The tracking store, spelled the same by every process: a resolved SQLite path, else the URI sans password."""
    if uri.startswith("sqlite:///"):
        return "sqlite:" + str(Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).resolve())
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _times(events: Sequence[RegistryEvent], alias: str) -> list[datetime]:
    return [event.at for event in events if event.alias == alias and event.kind in ("alias_set", "alias_removed")]


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return now_utc(lambda: datetime.fromisoformat(text))
    except ValueError:
        return None
