"""Revoke a data version or a release found bad, and say which releases in which environments depend on it.

A revocation is recorded once, with who, when and why; from then on the ``revoked`` guard of
:mod:`reprise.versioning.promotion` refuses to promote any release downstream of it in lineage. Revoking does not
move anything out of an environment by itself: the answer lists the releases active there that depend on the
revoked thing, with who put them there and when, so the team can roll them back. In team mode only a maintainer
revokes (:mod:`reprise.versioning.maintainers`).

Example:
    >>> revoked = revoke_data("raw@v3", reason="labels shifted by one row")  # doctest: +SKIP
    >>> [(a.environment, a.release) for a in revoked.active]                 # doctest: +SKIP
    [('production', 'release:churn@1.2.0')]
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from reprise.config import load_settings
from reprise.errors import NotFoundError, ReleaseGuardError
from reprise.versioning.maintainers import require_maintainer
from reprise.versioning.releases import get_release, new_event

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reprise.config import Settings
    from reprise.store.db import Store

__all__ = ["DeployedDependent", "Revocation", "active_dependents", "revoke_data", "revoke_release"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeployedDependent(_Frozen):
    """A release active in an environment that depends on something.

    Attributes:
        environment: The environment.
        release: ``release:NAME@VERSION``.
        promoted_by: Who put it there (``user@host``).
        promoted_at: When (UTC).
    """

    environment: str
    release: str
    promoted_by: str
    promoted_at: datetime


class Revocation(_Frozen):
    """A revocation in force and what it touches.

    Attributes:
        ref: What is revoked (``data:raw@v3``, ``release:churn@1.2.0``).
        reason: Why.
        actor: Who revoked it.
        at: When (UTC).
        releases: Every release downstream of it.
        active: The releases downstream of it active in an environment now.
    """

    ref: str
    reason: str
    actor: str
    at: datetime
    releases: tuple[str, ...]
    active: tuple[DeployedDependent, ...]


def revoke_data(name: str, *, reason: str, settings: Settings | None = None) -> Revocation:
    """Revoke the data version ``name``: no release that depends on it is promoted any more (unless forced).

    Raises:
        NotFoundError: No such data version.
        ReleaseGuardError: No reason given, or the caller is no maintainer of the team's server.
    """
    from reprise.store.data_versions import find_data_version
    from reprise.store.db import open_store

    settings = settings or load_settings()
    name = name.removeprefix("data:")
    if find_data_version(open_store(settings), name) is None:
        raise NotFoundError(f"no data version named {name!r}", hint="reprise data list")
    return _revoke(settings, f"data:{name}", reason)


def revoke_release(ref: str, *, reason: str, settings: Settings | None = None) -> Revocation:
    """Revoke the release ``ref`` (``NAME@VERSION``): its status becomes revoked and it is not promoted any more.

    Raises:
        NotFoundError: No such release.
        ReleaseGuardError: No reason given, or the caller is no maintainer of the team's server.
    """
    from reprise.store.db import open_store
    from reprise.store.releases import record_release_event

    settings = settings or load_settings()
    release = get_release(ref, settings=settings)
    revocation = _revoke(settings, release.ref, reason)
    if release.status != "revoked":
        event = new_event(release.name, release.version, "revoked", reason=revocation.reason)
        record_release_event(open_store(settings), event, status="revoked")
    return revocation


def active_dependents(
    engine: Store, releases: Sequence[str], environment: str | None = None
) -> list[DeployedDependent]:
    """Which of ``releases`` (``release:NAME@VERSION``) are active in an environment now, with who put them there.

    Args:
        engine: A store engine.
        releases: Release REFs (those downstream of something, typically).
        environment: Only this environment.

    Returns:
        One entry per (release, environment) where it is active, by name then environment.
    """
    from reprise.store.releases import active_releases

    wanted = set(releases)
    names = sorted({release.removeprefix("release:").rpartition("@")[0] for release in wanted})
    if not names:
        return []
    return [
        DeployedDependent(
            environment=row.environment,
            release=f"release:{row.name}@{row.version}",
            promoted_by=row.actor,
            promoted_at=row.at,
        )
        for row in active_releases(engine, names=names, environment=environment)
        if f"release:{row.name}@{row.version}" in wanted
    ]


def _revoke(settings: Settings, ref: str, reason: str) -> Revocation:
    from reprise.registry.history import Actor
    from reprise.store.db import open_store
    from reprise.store.revocations import RevocationRow, insert_revocation

    if not reason.strip():
        raise ReleaseGuardError("reason", f"revoking {ref} needs a reason", hint="add --reason TEXT")
    require_maintainer(f"revoking {ref}", settings=settings)
    engine = open_store(settings)
    row = insert_revocation(engine, RevocationRow(ref, reason.strip(), str(Actor.current()), datetime.now(UTC)))
    releases = _downstream_releases(settings, ref)
    return Revocation(
        ref=row.ref,
        reason=row.reason,
        actor=row.actor,
        at=row.at,
        releases=tuple(releases),
        active=tuple(active_dependents(engine, releases)),
    )


def _downstream_releases(settings: Settings, ref: str) -> list[str]:
    from reprise.store.db import open_store
    from reprise.store.lineage import walk

    found = [reached.ref for reached in walk(open_store(settings), ref, "down") if reached.kind == "release"]
    return sorted({*found, *([ref] if ref.startswith("release:") else [])})
