"""Unified versions: one immutable name for the code, data, pipelines, runs, model and environment of a result.

:func:`create_version` references records that exist already and never starts a run: the runs' records give the
commit (and the uncommitted change's digest, when ``allow_dirty``), the environment digests and the input digests;
the data versions and pipeline fits the runs used come from lineage, beside those named explicitly; the model
version is resolved (an alias to the version it points at now). The digest covers identity only (no name, no time,
no host), so two creations from the same components give the same digest, and :func:`create_version` says when an
existing version already holds exactly these components.

Example:
    >>> v = create_version("churn-2026-12", runs=["4c7db37c..."], model="churn@staging")  # doctest: +SKIP
    >>> v.digest, [d.name for d in v.data]                                                 # doctest: +SKIP
    ('sha256:9f1c...', ['raw@v1'])
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict

from reprise._canonical import canonical_json, digest
from reprise.config import load_settings
from reprise.errors import NotFoundError, VersioningError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reprise.config import Settings
    from reprise.store.db import Store
    from reprise.store.unified_versions import UnifiedVersionRow

__all__ = ["UnifiedVersion", "create_version", "get_version", "list_versions"]

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]{0,199}$")
#: How far up lineage :func:`create_version` looks from a run for the data versions and fits it used.
_UPSTREAM_DEPTH: Final = 12


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunComponent(_Frozen):
    """A run of the version: its id, the captured run holding its record, and that record's digests."""

    run_id: str
    captured_run_id: str
    inputs_digest: str
    environment_digest: str


class DataComponent(_Frozen):
    """A data version: its name and the digests that identify its bytes."""

    name: str
    dvc_md5: str
    manifest_digest: str


class PipelineComponent(_Frozen):
    """A feature-pipeline version (its spec digest), and a fit of it when the runs used one."""

    ref: str
    digest: str


class ModelComponent(_Frozen):
    """A registered model version and the run that produced it."""

    name: str
    version: int
    run_id: str | None


class UnifiedVersion(_Frozen):
    """One immutable name for everything a result is made of.

    Attributes:
        name: The version's name.
        digest: ``sha256:`` over the components' identity (not the name, not the time).
        git_commit: The commit the runs were made from.
        patch_digests: Digests of the uncommitted changes the runs were made with (only with ``allow_dirty``).
        environment_digest: The runs' environment digest (one when they agree, else a digest over them all).
        runs: The runs.
        data: The data versions (named, and those the runs read).
        pipelines: The pipeline versions and fits (named, and those the runs used).
        model: The model version.
        actor: ``user@host`` who created it.
        created_at: When (UTC).
        same_as: Older versions with the same digest (exactly these components), when creating.
    """

    name: str
    digest: str
    git_commit: str
    patch_digests: tuple[str, ...] = ()
    environment_digest: str
    runs: tuple[RunComponent, ...]
    data: tuple[DataComponent, ...] = ()
    pipelines: tuple[PipelineComponent, ...] = ()
    model: ModelComponent | None = None
    actor: str
    created_at: datetime
    same_as: tuple[str, ...] = ()

    @property
    def components(self) -> list[str]:
        """The lineage REFs of every component (each is linked ``-> version:NAME``)."""
        refs = [f"commit:{self.git_commit}", *(f"run:{run.run_id}" for run in self.runs)]
        refs += [f"data:{data.name}" for data in self.data] + [pipeline.ref for pipeline in self.pipelines]
        if self.model is not None:
            refs.append(f"model:{self.model.name}/{self.model.version}")
        return refs


def create_version(
    name: str,
    *,
    runs: Sequence[str],
    data: Sequence[str] = (),
    pipelines: Sequence[str] = (),
    model: str | None = None,
    allow_dirty: bool = False,
    settings: Settings | None = None,
) -> UnifiedVersion:
    """Record the unified version ``name`` over existing runs, data versions, pipeline versions and a model version.

    Args:
        name: The version's name (letters, digits and ``._+@-``; unique).
        runs: Run ids (a run nested in a captured run counts through the captured one's record).
        data: Data version names, beside those the runs read (found in lineage).
        pipelines: ``NAME@VERSION`` of pipeline versions, beside the fits the runs used.
        model: ``NAME/VERSION`` or ``NAME@ALIAS`` of a registered model version.
        allow_dirty: Accept runs made from a work tree with uncommitted changes (their patch digests join the
            identity).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The version as stored.

    Raises:
        VersioningError: A malformed or taken name, no run, runs from different commits, or a run made from a dirty
            work tree without ``allow_dirty``.
        NotFoundError: A run, data version, pipeline version or model version that does not exist.
    """
    from reprise.registry.history import Actor
    from reprise.store.db import open_store
    from reprise.store.unified_versions import UnifiedVersionRow, insert_unified_version

    settings = settings or load_settings()
    if not _NAME.match(name):
        raise VersioningError(f"{name!r} is not a version name", hint="use letters, digits and ._+@- (e.g. churn-v3)")
    if not runs:
        raise VersioningError("a unified version needs at least one run", hint="add --run RUN_ID")
    engine = open_store(settings)
    commit, patches, run_parts = _runs(settings, runs, allow_dirty)
    upstream = _upstream(engine, [f"run:{part.run_id}" for part in run_parts])
    identity: dict[str, Any] = {
        "git_commit": commit,
        "patch_digests": sorted(patches),
        "environment_digest": _one_digest([part.environment_digest for part in run_parts]),
        "runs": sorted((part.model_dump() for part in run_parts), key=lambda part: part["run_id"]),
        "data": [item.model_dump() for item in _data(engine, [*data, *upstream["data"]])],
        "pipelines": [item.model_dump() for item in _pipelines(engine, [*pipelines], upstream["fit"])],
        "model": None if model is None else _model(settings, model).model_dump(),
    }
    version_digest = digest(identity)
    same = [row.name for row in _rows(engine) if row.digest == version_digest]
    row = UnifiedVersionRow(
        name=name,
        digest=version_digest,
        git_commit=commit,
        patch_digest=digest(sorted(patches)) if patches else None,
        environment_digest=identity["environment_digest"],
        body_digest=version_digest,
        actor=str(Actor.current()),
        created_at=datetime.now(UTC),
    )
    version = _version(row, identity).model_copy(update={"same_as": tuple(same)})
    insert_unified_version(engine, row, canonical_json(identity), version.components)
    return version


def get_version(name: str, *, settings: Settings | None = None) -> UnifiedVersion:
    """The unified version ``name``.

    Raises:
        NotFoundError: No such version (the message lists the known ones).
    """
    from reprise.store.db import open_store
    from reprise.store.unified_versions import find_unified_version

    engine = open_store(settings or load_settings())
    found = find_unified_version(engine, name.removeprefix("version:"))
    if found is None:
        known = ", ".join(row.name for row in _rows(engine)[-10:]) or "none yet"
        raise NotFoundError(f"no unified version named {name!r} (known: {known})", hint="reprise version list")
    row, body = found
    return _version(row, json.loads(body))


def list_versions(*, settings: Settings | None = None) -> list[UnifiedVersion]:
    """Every unified version, oldest first."""
    from reprise.store.db import open_store
    from reprise.store.documents import read_document

    engine = open_store(settings or load_settings())
    return [_version(row, json.loads(read_document(engine, row.body_digest) or "{}")) for row in _rows(engine)]


def _rows(engine: Store) -> list[UnifiedVersionRow]:
    from reprise.store.unified_versions import list_unified_versions

    return list_unified_versions(engine)


def _version(row: UnifiedVersionRow, identity: dict[str, Any]) -> UnifiedVersion:
    return UnifiedVersion(
        name=row.name,
        digest=row.digest,
        git_commit=row.git_commit,
        patch_digests=tuple(identity.get("patch_digests", ())),
        environment_digest=row.environment_digest or "",
        runs=tuple(RunComponent(**part) for part in identity.get("runs", ())),
        data=tuple(DataComponent(**part) for part in identity.get("data", ())),
        pipelines=tuple(PipelineComponent(**part) for part in identity.get("pipelines", ())),
        model=None if identity.get("model") is None else ModelComponent(**identity["model"]),
        actor=row.actor,
        created_at=row.created_at,
    )


def _runs(settings: Settings, run_ids: Sequence[str], allow_dirty: bool) -> tuple[str, set[str], list[RunComponent]]:
    from reprise.tracking.records import nearest_captured, read_record, run_info
    from reprise.versioning.refs import resolve_ref

    commits: dict[str, list[str]] = {}
    patches: set[str] = set()
    parts: list[RunComponent] = []
    for given in dict.fromkeys(run_ids):
        run_id = resolve_ref(given if ":" in given else f"run:{given}", settings=settings).removeprefix("run:")
        captured, _ = nearest_captured(settings, run_info(settings, run_id))
        record = read_record(settings, captured.run_id)
        git = record.code.git
        if not git.commit:
            raise VersioningError(
                f"run {run_id} was not made in a git repository: there is no commit to version",
                hint="capture runs inside the project's git repository",
            )
        if git.patch_digest:
            if not allow_dirty:
                raise VersioningError(
                    f"run {run_id} was made from a work tree with uncommitted changes (commit {git.commit[:12]} + a "
                    "patch)",
                    hint="commit and run again, or pass --allow-dirty (the patch digest becomes part of the identity)",
                )
            patches.add(git.patch_digest)
        commits.setdefault(git.commit, []).append(run_id)
        parts.append(
            RunComponent(
                run_id=run_id,
                captured_run_id=captured.run_id,
                inputs_digest=record.inputs_digest,
                environment_digest=record.environment_digest,
            )
        )
    if len(commits) > 1:
        listed = "; ".join(f"{commit[:12]}: {', '.join(ids)}" for commit, ids in commits.items())
        raise VersioningError(
            f"the runs come from different commits ({listed})", hint="version runs made from one commit together"
        )
    return next(iter(commits)), patches, parts


def _upstream(engine: Store, refs: Sequence[str]) -> dict[str, list[str]]:
    """The data versions and pipeline fits upstream of ``refs`` in lineage, by kind."""
    from reprise.store.lineage import walk

    found: dict[str, list[str]] = {"data": [], "fit": []}
    for ref in refs:
        for reached in walk(engine, ref, "up", depth=_UPSTREAM_DEPTH):
            if reached.kind in found:
                found[reached.kind].append(reached.ref.split(":", 1)[1])
    return found


def _data(engine: Store, names: Sequence[str]) -> list[DataComponent]:
    from reprise.store.data_versions import find_data_version

    parts = []
    for name in sorted(set(names)):
        row = find_data_version(engine, name.removeprefix("data:"))
        if row is None:
            raise NotFoundError(f"no data version named {name!r}", hint="reprise data list")
        parts.append(DataComponent(name=row.name, dvc_md5=row.dvc_md5, manifest_digest=row.manifest_digest))
    return parts


def _pipelines(engine: Store, refs: Sequence[str], fits: Sequence[str]) -> list[PipelineComponent]:
    from reprise.store.pipelines import find_pipeline_fit, find_pipeline_version
    from reprise.versioning.pipelines import parse_pipeline_ref

    parts: dict[str, str] = {}
    for ref in refs:
        name, version = parse_pipeline_ref(ref)
        row = find_pipeline_version(engine, name, str(version))
        if row is None:
            raise NotFoundError(f"no pipeline version {name}@{version}", hint="reprise pipeline list")
        parts[f"pipeline:{row.name}@{row.version}"] = row.digest
    for fit_id in fits:
        fit = find_pipeline_fit(engine, fit_id)
        if fit is not None:
            parts[f"fit:{fit.fit_id}"] = f"sha256:{fit.sha256}"
    return [PipelineComponent(ref=ref, digest=value) for ref, value in sorted(parts.items())]


def _model(settings: Settings, text: str) -> ModelComponent:
    from reprise.registry.resolve import describe_version
    from reprise.versioning.refs import resolve_ref

    name, _, number = resolve_ref(f"model:{text.removeprefix('model:')}", settings=settings)[6:].rpartition("/")
    described = describe_version(settings, name, int(number))
    return ModelComponent(name=name, version=int(number), run_id=described.run_id)


def _one_digest(digests: Sequence[str]) -> str:
    distinct = sorted(set(digests))
    return distinct[0] if len(distinct) == 1 else digest(distinct)
