"""A release name's history: every event with who, when, from, to and why; what ran where at a time; its integrity.

The events are the hash chain of :mod:`reprise.store.release_events`, read in order. "What ran in production at
that time" replays the promotions and rollbacks of each environment up to the time asked: the active release is the
``to_version`` of the last one. :func:`release_history` with ``verify_chain`` recomputes every hash and names each
break (an edited event, a deleted one, a deleted tail).

Example:
    >>> release_history("churn", environment="production", at=parse_time("2026-11-01T12:00")).active  # doctest: +SKIP
    (ActiveRelease(environment='production', version='1.1.0', by='alice@build-01', ...),)
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from reprise.config import load_settings
from reprise.versioning.promotion import MOVES

if TYPE_CHECKING:
    from reprise.config import Settings
    from reprise.store.release_events import ReleaseEventRow

__all__ = ["ActiveRelease", "ReleaseEvent", "ReleaseHistory", "release_history"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReleaseEvent(_Frozen):
    """One event of a release name's history.

    Attributes:
        position: Its place in the name's chain (1, 2, 3...).
        version: The release it is about.
        kind: ``created``, ``verified``, ``promoted``, ``rolled_back``, ``deprecated``, ``revoked``, ``attested``.
        environment: The environment, for promotions and rollbacks.
        from_version: The release active there before.
        to_version: The release active there after.
        actor: ``user@host``.
        at: When (UTC).
        reason: Why (always given with ``forced``).
        forced: Whether guards were overridden (``details["forced_guards"]`` names them).
        details: Anything else: the verdict of a verification, the model version moved...
        hash: The event's chain hash.
    """

    position: int
    version: str
    kind: str
    environment: str | None
    from_version: str | None
    to_version: str | None
    actor: str
    at: datetime
    reason: str
    forced: bool
    details: dict[str, Any]
    hash: str

    def describe(self) -> str:
        """One line for people, without who and when."""
        text = f"{self.kind} {self.version}"
        if self.environment is not None:
            text = f"{self.kind} {self.environment}: {self.from_version or '-'} -> {self.to_version}"
        if self.kind == "verified":
            text += f" ({self.details.get('verdict')})"
        if self.forced:
            text += f" FORCED past {', '.join(self.details.get('forced_guards', []))}"
        return text + (f": {self.reason}" if self.reason else "")


class ActiveRelease(_Frozen):
    """The release active in one environment at a time, and the event that put it there."""

    environment: str
    version: str
    by: str
    since: datetime
    kind: str


class ReleaseHistory(_Frozen):
    """The history of one release name.

    Attributes:
        name: The release name.
        environment: The environment asked for, if any.
        at: The time asked for, if any (the events stop there).
        events: The events, in chain order.
        active: The release active in each environment at ``at`` (or now).
        chain_verified: Whether the chain was checked (``verify_chain``).
        chain_problems: Its breaks, one line each (empty: intact).
    """

    name: str
    environment: str | None = None
    at: datetime | None = None
    events: tuple[ReleaseEvent, ...]
    active: tuple[ActiveRelease, ...]
    chain_verified: bool = False
    chain_problems: tuple[str, ...] = ()


def release_history(
    name: str,
    *,
    environment: str | None = None,
    at: datetime | None = None,
    verify_chain: bool = False,
    settings: Settings | None = None,
) -> ReleaseHistory:
    """The events of release ``name`` (of one environment, up to a time) and what was active where.

    Args:
        name: The release name.
        environment: Only this environment's events.
        at: Only events up to this time; ``active`` then answers "what ran where at that time".
        verify_chain: Recompute the hash chain of the whole name and report every break.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The history.
    """
    from reprise.store.db import open_store
    from reprise.store.release_events import chain_problems, list_release_events

    engine = open_store(settings or load_settings())
    rows = list_release_events(engine, name, environment=environment, until=at)
    active: dict[str, ActiveRelease] = {}
    for row in rows:
        if row.kind in MOVES and row.environment is not None and row.to_version is not None:
            active[row.environment] = ActiveRelease(
                environment=row.environment, version=row.to_version, by=row.actor, since=row.at, kind=row.kind
            )
    return ReleaseHistory(
        name=name,
        environment=environment,
        at=at,
        events=tuple(_event(row) for row in rows),
        active=tuple(active[key] for key in sorted(active)),
        chain_verified=verify_chain,
        chain_problems=tuple(chain_problems(engine, name)) if verify_chain else (),
    )


def _event(row: ReleaseEventRow) -> ReleaseEvent:
    return ReleaseEvent(
        position=row.position,
        version=row.version,
        kind=row.kind,
        environment=row.environment,
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        at=row.at,
        reason=row.reason,
        forced=row.forced,
        details=row.details,
        hash=row.hash,
    )
