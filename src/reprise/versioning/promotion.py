"""Promote a release through the environments, one step at a time, behind guards; roll an environment back.

Environments are ordered in settings (``environments``, default ``dev < staging < production``). Promoting
``NAME@VERSION`` to an environment makes it the one active release of (NAME, environment) and moves the registry
alias named after the environment to the release's model version (through
:func:`reprise.registry.lifecycle.promote_model`), so ``models:/MODEL@production`` and
``reprise serve MODEL@production`` follow it. Guards, each refused with a :class:`~reprise.errors.ReleaseGuardError`
naming it and the way forward:

* ``order``: the release reached the previous environment first (no skipping);
* ``status``: the release is not deprecated;
* ``verified``: its last recorded reproduction came out identical or within tolerance (``reprise release verify``);
* ``revoked``: neither the release nor anything upstream of it in lineage is revoked;
* ``gates``: its model version did not fail its quality gates;
* ``prerelease``: a pre-release (``1.0.0-rc.1``) never reaches the last environment.

``force`` with a ``reason`` overrides every failing guard; the event records which ones were overridden. In team
mode only a maintainer moves a release into the last environment (:mod:`reprise.versioning.maintainers`), forced
or not.

Example:
    >>> promote_release("churn@1.2.0", "staging").describe()  # doctest: +SKIP
    'churn staging: 1.1.0 -> 1.2.0 (alias staging: churn v3)'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from reprise.config import load_settings
from reprise.errors import ConfigError, ReleaseGuardError, RepriseError
from reprise.versioning.maintainers import require_maintainer
from reprise.versioning.releases import GOOD_VERDICTS, Release, get_release, new_event

if TYPE_CHECKING:
    from reprise.config import Settings
    from reprise.store.db import Store

__all__ = ["EnvironmentMove", "promote_release", "rollback_release"]

#: Event kinds that make a release active in an environment.
MOVES = ("promoted", "rolled_back")


class EnvironmentMove(BaseModel):
    """What a promotion or rollback did.

    Attributes:
        name: The release name.
        environment: The environment.
        kind: ``promoted`` or ``rolled_back``.
        from_version: The release active there before (None: none).
        to_version: The release active there now.
        model: The model version the environment's alias points at now (``model:NAME/N``).
        forced: The guards overridden with ``force``.
        reason: Why (required with ``force`` and for a rollback).
        changed: False when the release was active there already.
        git_tag: The git tag written (``NAME#ENV#N``), when asked for.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    environment: str
    kind: str
    from_version: str | None
    to_version: str
    model: str | None
    forced: tuple[str, ...] = ()
    reason: str = ""
    changed: bool = True
    git_tag: str | None = None

    def describe(self) -> str:
        """One line: ``churn production: 1.1.0 -> 1.2.0 (alias production: churn v3)``."""
        if not self.changed:
            return f"{self.name} {self.environment}: {self.to_version} is active already, nothing to do"
        model = (self.model or "").removeprefix("model:").replace("/", " v")
        where = f" (alias {self.environment}: {model})" if model else ""
        forced = f"; forced past {', '.join(self.forced)}: {self.reason}" if self.forced else ""
        return f"{self.name} {self.environment}: {self.from_version or '-'} -> {self.to_version}{where}{forced}"


def promote_release(
    ref: str,
    to: str,
    *,
    force: bool = False,
    reason: str = "",
    git_tag: bool = False,
    settings: Settings | None = None,
) -> EnvironmentMove:
    """Promote release ``ref`` (``NAME@VERSION``) to environment ``to``, behind the guards of the module.

    Args:
        ref: The release.
        to: The environment (one of ``settings.environments``).
        force: Override every failing guard (needs ``reason``; recorded).
        reason: Why (kept in the history).
        git_tag: Also tag the release's commit ``NAME#ENV#N`` (:mod:`reprise.versioning.git_tags`).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The move.

    Raises:
        ConfigError: ``to`` is not a configured environment.
        ReleaseGuardError: A guard refused (the first one failing), ``force`` without a reason, or (guard
            ``maintainer``) a member who is no maintainer promoting to the last environment.
        NotFoundError: No such release.
    """
    from reprise.store.db import open_store
    from reprise.store.releases import active_releases

    settings = settings or load_settings()
    place = _place(settings, to)
    if place == len(settings.environments) - 1:
        require_maintainer(f"promoting {ref} to {to}", settings=settings)
    engine = open_store(settings)
    release = get_release(ref, settings=settings)
    active = active_releases(engine, names=[release.name], environment=to)
    current = active[0].version if active else None
    if current == release.version:
        return EnvironmentMove(
            name=release.name, environment=to, kind="promoted", from_version=current, to_version=release.version,
            model=release.model, changed=False,
        )  # fmt: skip
    failures = _failures(engine, settings, release, place)
    forced = _overridden(failures, force, reason, f"promote {release.name}@{release.version} --to {to}")
    last = place == len(settings.environments) - 1
    status = "released" if last and release.status in ("draft", "candidate") else None
    move = _move(engine, settings, release, to, "promoted", current, forced, reason, status)
    return _tagged(settings, release, move) if git_tag else move


def rollback_release(
    name: str,
    environment: str,
    *,
    reason: str,
    to: str | None = None,
    force: bool = False,
    git_tag: bool = False,
    settings: Settings | None = None,
) -> EnvironmentMove:
    """Put back in ``environment`` the release that was active there before the current one (or ``to``).

    A rollback is its own event (``rolled_back``), not a promotion: it skips the order and verification guards, since
    the release ran there already, but not ``revoked`` (a revoked release does not come back unless forced).

    Args:
        name: The release name.
        environment: The environment.
        reason: Why (required; kept in the history).
        to: The version to put back (default: the one active before the current one).
        force: Put back a revoked release anyway.
        git_tag: Also tag the release's commit ``NAME#ENV#N`` (the environment's newest assignment).
        settings: Project settings (default: loaded from the working directory).

    Raises:
        ReleaseGuardError: No reason, nothing to roll back to, ``to`` never ran there, it is revoked, or a member who
            is no maintainer rolls back the last environment.
    """
    from reprise.store.db import open_store
    from reprise.store.release_events import list_release_events
    from reprise.store.releases import active_releases

    settings = settings or load_settings()
    if _place(settings, environment) == len(settings.environments) - 1:
        require_maintainer(f"rolling back {name} in {environment}", settings=settings)
    engine = open_store(settings)
    if not reason.strip():
        raise ReleaseGuardError("reason", "a rollback needs a reason", hint="add --reason TEXT")
    active = active_releases(engine, names=[name], environment=environment)
    current = active[0].version if active else None
    ran = [e.to_version for e in list_release_events(engine, name, environment=environment) if e.kind in MOVES]
    earlier = [version for version in ran if version is not None and version != current]
    target = to if to is not None else (earlier[-1] if earlier else None)
    if target is None or target not in ran:
        raise ReleaseGuardError(
            "order",
            f"no earlier release of {name} ran in {environment} to roll back to"
            if to is None
            else f"{name}@{to} never ran in {environment}",
            hint=f"see `reprise release history {name} --env {environment}`; promote instead",
        )
    release = get_release(f"{name}@{target}", settings=settings)
    failures = [failure for failure in [_revoked(engine, release)] if failure is not None]
    forced = _overridden(failures, force, reason, f"rollback {name} --env {environment} --to {target}")
    move = _move(engine, settings, release, environment, "rolled_back", current, forced, reason, None)
    return _tagged(settings, release, move) if git_tag else move


def _tagged(settings: Settings, release: Release, move: EnvironmentMove) -> EnvironmentMove:
    from reprise.versioning.git_tags import tag_promotion

    return move.model_copy(update={"git_tag": tag_promotion(settings, release, move.environment)})


def _place(settings: Settings, environment: str) -> int:
    if environment not in settings.environments:
        raise ConfigError(
            f"{environment!r} is not an environment (configured: {' < '.join(settings.environments)})",
            hint="use one of them, or set environments in reprise.toml",
        )
    return settings.environments.index(environment)


def _failures(engine: Store, settings: Settings, release: Release, place: int) -> list[ReleaseGuardError]:
    """Every guard ``release`` fails for the environment at ``place``, in the order of the module's list."""
    from reprise.store.release_events import list_release_events

    environments = settings.environments
    failures: list[ReleaseGuardError] = []
    spelled = f"{release.name}@{release.version}"
    if place > 0:
        before = environments[place - 1]
        events = list_release_events(engine, release.name, environment=before)
        if not any(e.kind in MOVES and e.to_version == release.version for e in events):
            failures.append(
                ReleaseGuardError(
                    "order",
                    f"{release.ref} has not been in {before}; environments go {' < '.join(environments)}",
                    hint=f"reprise release promote {spelled} --to {before} first, or --force --reason TEXT",
                )
            )
    if release.status == "deprecated":
        failures.append(
            ReleaseGuardError(
                "status",
                f"{release.ref} is deprecated",
                hint="release a new version, or --force --reason TEXT",
            )
        )
    verified = _verified(engine, release)
    if verified is not None:
        failures.append(verified)
    revoked = _revoked(engine, release)
    if revoked is not None:
        failures.append(revoked)
    gates = _gates(settings, release)
    if gates is not None:
        failures.append(gates)
    if release.semver.is_prerelease and place == len(environments) - 1:
        failures.append(
            ReleaseGuardError(
                "prerelease",
                f"{release.ref} is a pre-release; it does not go to {environments[-1]}",
                hint=f"release {release.semver.major}.{release.semver.minor}.{release.semver.patch}, "
                "or --force --reason TEXT",
            )
        )
    return failures


def _verified(engine: Store, release: Release) -> ReleaseGuardError | None:
    from reprise.store.reproductions import latest_reproductions

    latest = latest_reproductions(engine, [release.ref]).get(release.ref)
    if latest is not None and latest.verdict in GOOD_VERDICTS:
        return None
    found = "has no recorded reproduction" if latest is None else f"last reproduced {latest.verdict}"
    return ReleaseGuardError(
        "verified",
        f"{release.ref} {found}; it needs identical or within tolerance",
        hint=f"reprise release verify {release.name}@{release.version}, or --force --reason TEXT",
    )


def _revoked(engine: Store, release: Release) -> ReleaseGuardError | None:
    from reprise.store.lineage import walk
    from reprise.store.revocations import revoked_among

    upstream = [reached.ref for reached in walk(engine, release.ref, "up")]
    revoked = revoked_among(engine, [release.ref, *upstream])
    if not revoked:
        return None
    first = revoked[0]
    where = "is revoked" if first.ref == release.ref else f"depends on {first.ref}, revoked"
    return ReleaseGuardError(
        "revoked",
        f"{release.ref} {where} ({first.reason}; by {first.actor} at {first.at:%Y-%m-%d %H:%M} UTC)",
        hint="release a version without it, or --force --reason TEXT",
    )


def _gates(settings: Settings, release: Release) -> ReleaseGuardError | None:
    from reprise.registry.catalog import list_versions

    if release.model is None:
        return None
    name, _, number = release.model.removeprefix("model:").rpartition("/")
    info = next((v for v in list_versions(name, settings=settings) if v.version == int(number)), None)
    if info is None or info.validation_status != "failed":
        return None
    return ReleaseGuardError(
        "gates",
        f"{release.model} failed its quality gates ({info.gate_failures})",
        hint="release a model version that passes them, or --force --reason TEXT",
    )


def _overridden(failures: list[ReleaseGuardError], force: bool, reason: str, command: str) -> tuple[str, ...]:
    """The guards ``force`` overrides; raises the first failure when not forcing, or forcing without a reason."""
    if not failures:
        return ()
    if not force:
        raise failures[0]
    if not reason.strip():
        names = ", ".join(failure.guard for failure in failures)
        raise ReleaseGuardError(
            "reason", f"--force past {names} needs a reason", hint=f"reprise release {command} --force --reason TEXT"
        )
    return tuple(failure.guard for failure in failures)


def _move(
    engine: Store,
    settings: Settings,
    release: Release,
    environment: str,
    kind: str,
    current: str | None,
    forced: tuple[str, ...],
    reason: str,
    status: str | None,
) -> EnvironmentMove:
    """Move the environment's alias to the release's model version, then record the event.

    If the store refuses the event, the alias goes back, so the registry and the history agree.
    """
    from reprise.registry.lifecycle import promote_model, set_model_alias
    from reprise.store.releases import record_release_event

    moved = None
    if release.model is not None:
        name, _, number = release.model.removeprefix("model:").rpartition("/")
        moved = promote_model(name, int(number), environment, force="gates" in forced, settings=settings)
    event = new_event(
        release.name,
        release.version,
        kind,
        environment=environment,
        from_version=current,
        to_version=release.version,
        reason=reason.strip(),
        forced=bool(forced),
        details={"forced_guards": list(forced), "model": release.model},
    )
    try:
        record_release_event(engine, event, status=status, activate=environment)
    except RepriseError:
        before = moved.moves[0].from_version if moved is not None and moved.moves else None
        if moved is not None and before is not None:
            set_model_alias(moved.model, environment, before, settings=settings)
        raise
    return EnvironmentMove(
        name=release.name,
        environment=environment,
        kind=kind,
        from_version=current,
        to_version=release.version,
        model=release.model,
        forced=forced,
        reason=reason.strip(),
    )
