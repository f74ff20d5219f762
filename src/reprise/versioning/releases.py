"""Releases: a semver'd, immutable set of components (one unified version) that a team deploys.

``create_release("churn", "1.2.0", from_version="churn-2026-12")`` freezes the unified version's components with
their digests (commit, patch, environment, runs, data versions, pipeline versions and fits, model version) under
``release:churn@1.2.0``. The version is strict semver (:mod:`reprise.versioning.semver`): a leading ``v`` is
accepted, build metadata is kept but plays no part in uniqueness (``1.2.0+a`` and ``1.2.0+b`` are the same release).
A release's status moves draft -> candidate (a reproduction verified it) -> released (it reached the last
environment), and may end deprecated or revoked; every change is an event in the name's hash-chained history
(:mod:`reprise.versioning.release_history`). Promotion and its guards are in :mod:`reprise.versioning.promotion`.

Example:
    >>> release = create_release("churn", "v1.2.0", from_version="churn-2026-12")  # doctest: +SKIP
    >>> release.ref, release.status, release.model                                  # doctest: +SKIP
    ('release:churn@1.2.0', 'draft', 'model:churn/3')
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from reprise.config import load_settings
from reprise.errors import NotFoundError, ReleaseGuardError, VersioningError
from reprise.versioning.semver import SemVer, parse_semver

if TYPE_CHECKING:
    from reprise.config import Settings
    from reprise.store.db import Store
    from reprise.store.release_events import ReleaseEventRow
    from reprise.store.releases import ReleaseRow
    from reprise.versioning.unified import UnifiedVersion

__all__ = [
    "GOOD_VERDICTS",
    "Release",
    "ReleaseComponent",
    "ReleaseStatus",
    "create_release",
    "deprecate_release",
    "get_release",
    "list_releases",
    "new_event",
    "parse_release_ref",
    "record_verification",
    "release_of_model",
]

ReleaseStatus = Literal["draft", "candidate", "released", "deprecated", "revoked"]

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
#: Verdicts that let a release be promoted (and make a draft a candidate).
GOOD_VERDICTS: Final = ("identical", "within_tolerance")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReleaseComponent(_Frozen):
    """One component of a release and the digest that identifies it.

    Attributes:
        ref: Its lineage REF (``data:raw@v1``, ``model:churn/3``...) or ``environment`` / ``patch``.
        digest: What identifies its content: a commit, a data manifest digest, a run's inputs digest, a pipeline
            spec digest, the environment (pins) digest, or for the model one digest over its files' sha256.
    """

    ref: str
    digest: str | None


class Release(_Frozen):
    """A release as stored.

    Attributes:
        name: The release name (often the model's name).
        version: The semver, without build metadata (what tells releases apart).
        build: Build metadata given at creation (``+build.5``), kept for display.
        unified_version: The unified version it was made from.
        status: draft, candidate, released, deprecated or revoked.
        components: Every component with its digest.
        notes: Free text given at creation.
        attestation_digest: The digest of its signed attestation, once attested.
        actor: ``user@host`` who created it.
        created_at: When (UTC).
    """

    name: str
    version: str
    build: str = ""
    unified_version: str
    status: ReleaseStatus
    components: tuple[ReleaseComponent, ...]
    notes: str = ""
    attestation_digest: str | None = None
    actor: str
    created_at: datetime

    @property
    def ref(self) -> str:
        """``release:NAME@VERSION``."""
        return f"release:{self.name}@{self.version}"

    @property
    def semver(self) -> SemVer:
        """The version, for precedence."""
        return parse_semver(self.version)

    @property
    def model(self) -> str | None:
        """The model version component (``model:NAME/N``), if the release has one."""
        return next((c.ref for c in self.components if c.ref.startswith("model:")), None)


def parse_release_ref(text: str) -> tuple[str, str]:
    """``(name, version)`` of ``NAME@VERSION`` or ``release:NAME@VERSION`` (the version without build metadata).

    Raises:
        VersioningError: Not ``NAME@VERSION`` with a valid name and a semantic version.
    """
    name, sep, version = text.strip().removeprefix("release:").rpartition("@")
    if not sep or not _NAME.match(name):
        raise VersioningError(f"{text!r} is not a release", hint="write NAME@VERSION, e.g. churn@1.2.0")
    return name, parse_semver(version).core


def create_release(
    name: str,
    version: str,
    *,
    from_version: str,
    notes: str = "",
    sign: bool = True,
    git_tag: bool = False,
    settings: Settings | None = None,
) -> Release:
    """Create release ``name@version`` from the unified version ``from_version``; it starts as a draft.

    When this machine holds a trusted signing key (``reprise keys generate``), the release is attested at once
    (:func:`reprise.versioning.attestation.attest_release`).

    Args:
        name: The release name (letters, digits and ``._-``).
        version: A semantic version (``1.2.0``, ``v2.0.0-rc.1``, ``1.0.0+build.7``).
        from_version: The unified version (``NAME`` or ``version:NAME``); it must name a model version.
        notes: Free text kept with the release.
        sign: Attest the release when a signing key is at hand.
        git_tag: Also tag its commit ``NAME@vVERSION`` (:mod:`reprise.versioning.git_tags`).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The release as stored.

    Raises:
        VersioningError: A malformed name or version, a release that exists already (build metadata aside).
        NotFoundError: No such unified version.
        ReleaseGuardError: The unified version names no model version (there would be nothing to deploy).
    """
    from reprise.registry.history import Actor
    from reprise.store.db import open_store
    from reprise.store.releases import ReleaseRow, insert_release
    from reprise.versioning.keys import has_signer
    from reprise.versioning.unified import get_version

    settings = settings or load_settings()
    if not _NAME.match(name):
        raise VersioningError(f"{name!r} is not a release name", hint="use letters, digits and ._- (e.g. churn)")
    semver = parse_semver(version)
    unified = get_version(from_version, settings=settings)
    if unified.model is None:
        raise ReleaseGuardError(
            "model",
            f"unified version {unified.name} names no model version: a release deploys one",
            hint="create a unified version with --model NAME/VERSION, then release it",
        )
    who, now = str(Actor.current()), datetime.now(UTC)
    row = ReleaseRow(
        name=name,
        version=semver.core,
        build=".".join(semver.build),
        major=semver.major,
        minor=semver.minor,
        patch=semver.patch,
        prerelease=".".join(semver.prerelease),
        unified_version=unified.name,
        status="draft",
        components=[component.model_dump() for component in _components(settings, unified)],
        notes=notes,
        attestation_digest=None,
        actor=who,
        created_at=now,
    )
    details = {"unified_version": unified.name, "unified_digest": unified.digest}
    engine = open_store(settings)
    insert_release(engine, row, new_event(row.name, row.version, "created", details=details))
    if sign and has_signer(settings=settings):
        from reprise.versioning.attestation import attest_release

        attest_release(f"{row.name}@{row.version}", settings=settings)
    release = _found(engine, row.name, row.version)
    if git_tag:
        from reprise.versioning.git_tags import tag_release

        tag_release(settings, release)
    return release


def get_release(ref: str, *, settings: Settings | None = None) -> Release:
    """The release ``NAME@VERSION`` (or ``release:NAME@VERSION``).

    Raises:
        VersioningError: ``ref`` is not a release REF.
        NotFoundError: No such release (the message lists the name's versions).
    """
    from reprise.store.db import open_store

    settings = settings or load_settings()
    name, version = parse_release_ref(ref)
    return _found(open_store(settings), name, version)


def list_releases(name: str | None = None, *, settings: Settings | None = None) -> list[Release]:
    """Every release (of ``name`` only, when given), by name then semver precedence."""
    from reprise.store.db import open_store
    from reprise.store.releases import list_releases as list_rows

    releases = [_release(row) for row in list_rows(open_store(settings or load_settings()), name)]
    return sorted(releases, key=lambda release: (release.name, release.semver))


def deprecate_release(ref: str, *, reason: str, settings: Settings | None = None) -> Release:
    """Mark a release deprecated (it stays where it is active; it is no longer to be promoted).

    Raises:
        NotFoundError: No such release.
        ReleaseGuardError: The release is revoked already, or no reason was given.
    """
    from reprise.store.db import open_store
    from reprise.store.releases import record_release_event

    settings = settings or load_settings()
    engine = open_store(settings)
    release = get_release(ref, settings=settings)
    if release.status == "revoked":
        raise ReleaseGuardError("status", f"{release.ref} is revoked; it cannot be deprecated", hint="nothing to do")
    event = new_event(release.name, release.version, "deprecated", reason=_reason(reason, "deprecate"))
    record_release_event(engine, event, status="deprecated")
    return _found(engine, release.name, release.version)


def record_verification(
    ref: str, *, verdict: str, reproduction_id: str, headline: str, settings: Settings | None = None
) -> Release:
    """Record a reproduction of a release in its history; a good verdict makes a draft a candidate.

    Called by :func:`reprise.reproduce.targets.reproduce_target` after reproducing ``release:NAME@VERSION``.

    Args:
        ref: The release.
        verdict: The overall verdict of the reproduction.
        reproduction_id: The recorded reproduction.
        headline: Its one-line summary.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The release after the event.
    """
    from reprise.store.db import open_store
    from reprise.store.releases import record_release_event

    settings = settings or load_settings()
    engine = open_store(settings)
    release = get_release(ref, settings=settings)
    promote = release.status == "draft" and verdict in GOOD_VERDICTS
    details = {"verdict": verdict, "reproduction_id": reproduction_id, "headline": headline}
    event = new_event(release.name, release.version, "verified", details=details)
    record_release_event(engine, event, status="candidate" if promote else None)
    return _found(engine, release.name, release.version)


def release_of_model(
    name: str, version: int, *, environment: str | None = None, settings: Settings | None = None
) -> str | None:
    """The release (``release:NAME@VERSION``) a model version came from, or None when no release ships it.

    The one active in ``environment`` if one is (the one put there last, if several), else the newest release that
    ships it.

    Why: a prediction service names the release behind its answers (``reprise serve NAME@production``).
    """
    from reprise.store.db import open_store
    from reprise.store.lineage import walk
    from reprise.store.releases import active_releases

    engine = open_store(settings or load_settings())
    shipping = [r.ref for r in walk(engine, f"model:{name}/{version}", "down") if r.kind == "release"]
    if not shipping:
        return None
    names = sorted({ref.removeprefix("release:").rpartition("@")[0] for ref in shipping})
    active = active_releases(engine, names=names, environment=environment) if environment else []
    for row in sorted(active, key=lambda row: row.at, reverse=True):  # the one put there last, if several
        if f"release:{row.name}@{row.version}" in shipping:
            return f"release:{row.name}@{row.version}"
    newest = max((get_release(ref, settings=settings) for ref in shipping), key=lambda r: r.created_at)
    return newest.ref


def new_event(
    name: str,
    version: str,
    kind: str,
    *,
    environment: str | None = None,
    from_version: str | None = None,
    to_version: str | None = None,
    reason: str = "",
    forced: bool = False,
    details: dict[str, Any] | None = None,
) -> ReleaseEventRow:
    """A release event by this user, now (its place in the chain is set when it is appended)."""
    from reprise.registry.history import Actor
    from reprise.store.release_events import ReleaseEventRow

    return ReleaseEventRow(
        event_id=uuid.uuid4().hex,
        name=name,
        version=version,
        kind=kind,
        environment=environment,
        from_version=from_version,
        to_version=to_version,
        actor=str(Actor.current()),
        at=datetime.now(UTC),
        reason=reason,
        forced=forced,
        details=details or {},
    )


def _reason(reason: str, verb: str) -> str:
    text = reason.strip()
    if not text:
        raise ReleaseGuardError("reason", f"a release cannot be {verb}d without a reason", hint="add --reason TEXT")
    return text


def _found(engine: Store, name: str, version: str) -> Release:
    from reprise.store.releases import find_release
    from reprise.store.releases import list_releases as list_rows

    row = find_release(engine, name, version)
    if row is None:
        known = ", ".join(r.version for r in list_rows(engine, name)[-10:]) or "none"
        raise NotFoundError(f"no release {name}@{version} (versions of {name}: {known})", hint="reprise release list")
    return _release(row)


def _release(row: ReleaseRow) -> Release:
    return Release(
        name=row.name,
        version=row.version,
        build=row.build,
        unified_version=row.unified_version,
        status=row.status,  # type: ignore[arg-type]
        components=tuple(ReleaseComponent(**part) for part in row.components),
        notes=row.notes,
        attestation_digest=row.attestation_digest,
        actor=row.actor,
        created_at=row.created_at,
    )


def _components(settings: Settings, unified: UnifiedVersion) -> list[ReleaseComponent]:
    parts = [ReleaseComponent(ref=f"commit:{unified.git_commit}", digest=unified.git_commit)]
    parts += [ReleaseComponent(ref="patch", digest=patch) for patch in unified.patch_digests]
    parts.append(ReleaseComponent(ref="environment", digest=unified.environment_digest or None))
    parts += [ReleaseComponent(ref=f"run:{run.run_id}", digest=run.inputs_digest) for run in unified.runs]
    parts += [ReleaseComponent(ref=f"data:{data.name}", digest=data.manifest_digest) for data in unified.data]
    parts += [ReleaseComponent(ref=pipeline.ref, digest=pipeline.digest) for pipeline in unified.pipelines]
    if unified.model is not None:
        model = unified.model
        files = _model_files_digest(settings, model.name, model.version)
        parts.append(ReleaseComponent(ref=f"model:{model.name}/{model.version}", digest=files))
    return parts


def _model_files_digest(settings: Settings, name: str, version: int) -> str:
    """One digest over the model version's files (path and sha256 of each), as the registry hands them out."""
    import tempfile
    from pathlib import Path

    from reprise._canonical import digest
    from reprise.registry.model_files import download_model_files, file_digests

    with tempfile.TemporaryDirectory(prefix="reprise-release-") as scratch:
        return digest(file_digests(download_model_files(settings, name, version, Path(scratch))))
