"""Feature-pipeline versions: a named, semver'd recipe, identified by the digest of its canonical spec.

:func:`version_pipeline` stores the canonical spec (:mod:`reprise.versioning.pipeline_spec`) under ``NAME@VERSION``
with its content digest and a lineage node ``pipeline:NAME@VERSION``. The same content under the same name returns
the version it already has; other content under a version number that exists is refused, so ``prep@1.2.0`` means one
recipe forever. Fitting and applying a version is :mod:`reprise.versioning.pipeline_fits`; this module holds the
records both return and the queries over them.

Example:
    >>> reprise.version_pipeline("prep", [{"name": "scale", "type": "sklearn.preprocessing.StandardScaler"}])
    ... # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, get_args

from pydantic import BaseModel, ConfigDict, JsonValue

from reprise._canonical import canonical_json, digest
from reprise.config import load_settings
from reprise.errors import NotFoundError, VersioningError
from reprise.versioning.pipeline_spec import spec_of
from reprise.versioning.semver import Part, SemVer, parse_semver

if TYPE_CHECKING:
    from reprise.config import Settings
    from reprise.store.db import Store as Engine
    from reprise.store.pipelines import PipelineFitRow, PipelineVersionRow

__all__ = [
    "FIRST_VERSION",
    "PipelineDetails",
    "PipelineFit",
    "PipelineVersion",
    "current_actor",
    "find_version_row",
    "list_pipeline_versions",
    "parse_pipeline_ref",
    "show_pipeline",
    "stored_spec",
    "version_pipeline",
]

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_REF_HINT: Final = "write NAME@VERSION, e.g. prep@1.2.0 (see `reprise pipeline list`)"
#: The version a pipeline's first version gets when none is given.
FIRST_VERSION: Final = SemVer(1, 0, 0)


class PipelineVersion(BaseModel):
    """A named, semver'd feature pipeline: its canonical spec and the digest over it.

    Attributes:
        name: The pipeline's name.
        version: The semantic version (without build metadata, which does not tell versions apart).
        digest: ``sha256:`` over the canonical spec: the identity of the recipe.
        spec: The canonical spec (types by import path, every parameter written out).
        actor: Who made it (``user@host``).
        created_at: When (UTC).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    digest: str
    spec: dict[str, JsonValue]
    actor: str
    created_at: datetime

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"


class PipelineFit(BaseModel):
    """A pipeline version fitted on a data version, stored as an MLflow artifact in skops' format.

    Attributes:
        fit_id: Opaque unique id (lineage node ``fit:<fit_id>``).
        pipeline: The pipeline's name.
        version: The pipeline's version.
        data_version: The data version it was fitted on.
        run_id: The MLflow run holding the fitted object.
        artifact_path: Its path in that run.
        sha256: The digest of its bytes, checked before every load.
        trusted_types: The types outside skops' defaults that loading it constructs (trusted, and nothing else).
        actor: Who fitted it.
        created_at: When (UTC).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fit_id: str
    pipeline: str
    version: str
    data_version: str
    run_id: str
    artifact_path: str
    sha256: str
    trusted_types: tuple[str, ...]
    actor: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: PipelineFitRow) -> PipelineFit:
        """The record of a stored fit."""
        return cls(**{**row.__dict__, "trusted_types": tuple(row.trusted_types)})


class PipelineDetails(BaseModel):
    """A pipeline version and its fits (what ``reprise pipeline show`` prints)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: PipelineVersion
    fits: tuple[PipelineFit, ...]


def version_pipeline(
    name: str,
    pipeline_or_steps: Any,
    version: str | None = None,
    bump: Part = "patch",
    *,
    settings: Settings | None = None,
) -> PipelineVersion:
    """Record a feature pipeline as ``NAME@VERSION``, identified by the digest of its canonical spec.

    Without ``version``: content this pipeline already has returns that version (the highest, if several); new
    content gets the highest existing version bumped by ``bump`` (the first version is ``1.0.0``). With ``version``:
    that number, unless it already holds other content (refused); the same content under it returns it.

    Args:
        name: Letters, digits and ``._-``.
        pipeline_or_steps: A scikit-learn ``Pipeline``, ``ColumnTransformer`` or other estimator (only its
            parameters count), or a list of steps ``{"name", "type", "params"}``.
        version: A semantic version (``1.2.0``, ``v2.0.0-rc.1``); build metadata is ignored.
        bump: ``major``, ``minor`` or ``patch``: how a new version number is made when ``version`` is None.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The version, as stored.

    Raises:
        VersioningError: The name or version is malformed, the spec cannot be written out, or the version number
            already holds other content.
        MissingExtraError: scikit-learn is not installed (``reprise[ml]``).

    Example:
        >>> reprise.version_pipeline("prep", Pipeline([("scale", StandardScaler())]), version="1.0.0")  # doctest: +SKIP
    """
    settings = settings or load_settings()
    from reprise.store.db import open_store
    from reprise.store.pipelines import PipelineVersionRow, insert_pipeline_version
    from reprise.store.pipelines import list_pipeline_versions as list_rows

    _check_name(name)
    wanted = None if version is None else parse_semver(version)
    if bump not in get_args(Part):
        raise VersioningError(f"cannot bump {bump!r} of a version", hint="bump one of: major, minor, patch")
    spec = spec_of(pipeline_or_steps)
    content = digest(spec)
    engine = open_store(settings)
    rows = sorted(list_rows(engine, name), key=_semver)
    if wanted is None:
        same = [row for row in rows if row.digest == content]
        if same:
            return _version(same[-1], spec)
        wanted = _semver(rows[-1]).bump(bump) if rows else FIRST_VERSION
    core = wanted.core
    stored = next((row for row in rows if row.version == core), None)
    if stored is None:
        stored = insert_pipeline_version(
            engine,
            PipelineVersionRow(
                name=name,
                version=core,
                major=wanted.major,
                minor=wanted.minor,
                patch=wanted.patch,
                prerelease=".".join(wanted.prerelease),
                digest=content,
                spec_digest=content,
                actor=current_actor(),
                created_at=datetime.now(UTC),
            ),
            canonical_json(spec),
        )
    if stored.digest != content:
        latest = max([_semver(row) for row in rows] + [wanted])
        raise VersioningError(
            f"pipeline {name}@{core} already exists with other content ({stored.digest[:19]}..., this is "
            f"{content[:19]}...)",
            hint=f"give it a new version (e.g. {latest.bump('patch')}), or leave the version out to bump it",
        )
    return _version(stored, spec)


def list_pipeline_versions(name: str | None = None, *, settings: Settings | None = None) -> list[PipelineVersion]:
    """Every pipeline version (of ``name`` only, when given), by name then semver precedence.

    Args:
        name: A pipeline name.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The versions.
    """
    settings = settings or load_settings()
    from reprise.store.db import open_store
    from reprise.store.pipelines import list_pipeline_versions as list_rows

    engine = open_store(settings)
    rows = sorted(list_rows(engine, name), key=lambda row: (row.name, _semver(row)))
    return [_version(row, stored_spec(engine, row)) for row in rows]


def show_pipeline(ref: str, *, settings: Settings | None = None) -> PipelineDetails:
    """A pipeline version with its fits, oldest first.

    Args:
        ref: ``NAME@VERSION``.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The details.

    Raises:
        NotFoundError: There is no such version.
    """
    settings = settings or load_settings()
    from reprise.store.db import open_store
    from reprise.store.pipelines import list_pipeline_fits

    engine = open_store(settings)
    row = find_version_row(engine, ref)
    fits = list_pipeline_fits(engine, row.name, row.version)
    return PipelineDetails(
        version=_version(row, stored_spec(engine, row)), fits=tuple(PipelineFit.from_row(fit) for fit in fits)
    )


def parse_pipeline_ref(ref: str) -> tuple[str, SemVer]:
    """Split ``NAME@VERSION`` (or the lineage form ``pipeline:NAME@VERSION``) into the name and the version.

    Args:
        ref: The reference.

    Returns:
        ``(name, version)``.

    Raises:
        VersioningError: The reference is malformed.
    """
    name, sep, version = ref.removeprefix("pipeline:").rpartition("@")
    if not sep or not _NAME.fullmatch(name):
        raise VersioningError(f"{ref!r} is not a pipeline version reference", hint=_REF_HINT)
    return name, parse_semver(version)


def find_version_row(engine: Engine, ref: str) -> PipelineVersionRow:
    """The stored row of pipeline version ``ref``.

    Args:
        engine: A store engine.
        ref: ``NAME@VERSION``.

    Returns:
        The row.

    Raises:
        VersioningError: ``ref`` is malformed.
        NotFoundError: There is no such version.
    """
    from reprise.store.pipelines import find_pipeline_version

    name, version = parse_pipeline_ref(ref)
    row = find_pipeline_version(engine, name, version.core)
    if row is None:
        raise NotFoundError(f"no pipeline version {name}@{version.core}", hint="reprise pipeline list")
    return row


def stored_spec(engine: Engine, row: PipelineVersionRow) -> dict[str, Any]:
    """The canonical spec of a stored version, checked against the version's digest.

    Args:
        engine: A store engine.
        row: The version.

    Returns:
        The spec.

    Raises:
        VersioningError: The spec document is missing or altered.
    """
    from reprise.store.documents import read_document

    body = read_document(engine, row.spec_digest)
    spec = None if body is None else json.loads(body)
    if not isinstance(spec, dict) or digest(spec) != row.digest:
        raise VersioningError(
            f"the stored spec of pipeline {row.name}@{row.version} is missing or does not match its digest",
            hint="the metadata store was altered; restore it from a backup",
        )
    return spec


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise VersioningError(
            f"pipeline name {name!r} is not allowed (letters, digits and ._- only, at most 200)",
            hint="reprise pipeline version prep steps.yaml",
        )


def current_actor() -> str:
    """Who is making a version or a fit: ``user@host``."""
    from reprise.registry.history import Actor

    return str(Actor.current())


def _semver(row: PipelineVersionRow) -> SemVer:
    return SemVer(row.major, row.minor, row.patch, tuple(row.prerelease.split(".")) if row.prerelease else ())


def _version(row: PipelineVersionRow, spec: dict[str, Any]) -> PipelineVersion:
    return PipelineVersion(
        name=row.name,
        version=row.version,
        digest=row.digest,
        spec=spec,
        actor=row.actor,
        created_at=row.created_at,
    )
