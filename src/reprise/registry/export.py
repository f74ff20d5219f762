"""Deployment copies: a registered version's files, in MLflow's own model format, plus ``metadata.json``.

``export_model("obesity_classifier@production", Path("deploy"))`` writes::

    deploy/v003/     the model's files exactly as MLflow stores them (MLmodel, model.pkl, ...) + metadata.json
    deploy/latest/   a copy of the version just exported

so ``mlflow.pyfunc.load_model("deploy/latest")`` works without the tracking store. ``metadata.json`` holds name,
version, run id, metrics, git commit, data digest and the export time. Exporting the same version again changes
nothing (it is recognised by its ``metadata.json``). Folders are built beside their destination and renamed into
place, so a reader never sees half a model; replacing ``latest`` is two renames (old out, new in), so for that
instant ``latest`` may be absent, never partial. Nothing else is kept: the registry remains the source of truth.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field

from reprise._canonical import write_atomic
from reprise.config import load_settings
from reprise.errors import RegistryError
from reprise.registry._mlflow import alias_map, mlflow_errors, resolve_version, the_model
from reprise.registry.catalog import version_info, version_metrics
from reprise.registry.history import Actor, make_event, now_utc, record_events
from reprise.registry.refs import parse_model_ref
from reprise.tracking._client import client_for

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from reprise.config import Settings

__all__ = [
    "Export",
    "LATEST",
    "METADATA_FILE",
    "export_model",
]

#: The folder that always holds the last version exported.
LATEST: Final = "latest"
#: The file, in each exported folder, that says what the folder holds.
METADATA_FILE: Final = "metadata.json"
#: The metadata fields that identify an export: same values, same export.
_IDENTITY: Final = ("name", "version", "run_id", "source")


class Export(BaseModel):
    """What ``export_model`` wrote.

    Attributes:
        model: The registered model.
        version: The version exported.
        path: Its versioned folder (``DIR/vNNN``).
        latest: The ``DIR/latest`` folder.
        changed: False when both folders already held this version (a re-export is a no-op).
        metadata: The content of ``metadata.json``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    version: int
    path: Path
    latest: Path
    changed: bool
    metadata: dict[str, Any] = Field(default_factory=dict)


def export_model(
    ref: str,
    to: Path,
    *,
    settings: Settings | None = None,
    actor: Actor | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Export:
    """Write version ``ref`` of a registered model to ``to/vNNN`` and ``to/latest`` for deployment.

    Args:
        ref: ``name@alias``, ``name/3`` or ``name`` (its latest version).
        to: The deployment folder (created if missing).
        settings: Project settings (default: loaded from the working directory).
        actor: Who exports (default: this user and host), for the history.
        clock: The time source (default: the system clock, UTC).

    Returns:
        What was written; ``changed`` is False for a re-export of the same version.

    Raises:
        NotFoundError: No such model, version or alias; the message lists the known ones.
        RegistryError: ``to/vNNN`` holds something else, or the files cannot be read or written.

    Example:
        >>> export = reprise.export_model("obesity_classifier@production", Path("deploy"))  # doctest: +SKIP
        >>> mlflow.pyfunc.load_model("deploy/latest").predict(X)                          # doctest: +SKIP
    """
    settings = settings or load_settings()
    client = client_for(settings)
    parsed = parse_model_ref(ref)
    found = resolve_version(client, parsed)
    info = version_info(found, alias_map(the_model(client, parsed.name)))
    if info.source is None:
        raise RegistryError(f"{info.ref} has no source to export", hint=f"reprise registry versions {info.name}")
    at = now_utc(clock)
    metadata: dict[str, Any] = {
        "name": info.name,
        "version": info.version,
        "run_id": info.run_id,
        "model_id": info.model_id,
        "model_uri": f"models:/{info.name}/{info.version}",
        "source": info.source,
        "model_type": info.model_type,
        "metrics": version_metrics(client, info),
        "git_commit": info.git_commit,
        "data_digest": info.data_digest,
        "validation_status": info.validation_status,
        "aliases": list(info.aliases),
        "exported_at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    root = to.resolve()
    versioned = root / f"v{info.version:03d}"
    latest = root / LATEST
    try:
        root.mkdir(parents=True, exist_ok=True)
        existing = _metadata(versioned)
        if existing is None and versioned.exists():
            raise RegistryError(f"{versioned} exists and is not a Reprise export", hint="move it away and export again")
        if existing is None:
            _write_version(settings, info.source, metadata, versioned)
        elif not _same(existing, metadata):
            raise RegistryError(
                f"{versioned} holds {existing.get('name')} v{existing.get('version')}, not {info.ref}",
                hint="export each model to its own folder",
            )
        else:
            metadata = existing
        current = _metadata(latest)
        if current is None and latest.exists():
            raise RegistryError(f"{latest} exists and is not a Reprise export", hint="move it away and export again")
        latest_changed = not _same(current or {}, metadata)
        if latest_changed:
            _replace_dir(versioned, latest)
    except OSError as exc:
        raise RegistryError(f"cannot export {info.ref} to {root}: {exc}", hint=f"check {root} is writable") from exc
    changed = existing is None or latest_changed
    if changed:
        details = {"to": str(root), "path": versioned.name, "ref": str(parsed)}
        who = actor or Actor.current()
        record_events(
            settings, [make_event("exported", info.name, actor=who, at=at, version=info.version, details=details)]
        )
    return Export(
        model=info.name, version=info.version, path=versioned, latest=latest, changed=changed, metadata=metadata
    )


def _write_version(settings: Settings, source: str, metadata: dict[str, Any], target: Path) -> None:
    """Download the model's files beside ``target``, add ``metadata.json``, and rename the folder into place."""
    from mlflow.artifacts import download_artifacts

    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with mlflow_errors(f"cannot download {source}"):
            download_artifacts(artifact_uri=source, dst_path=str(scratch), tracking_uri=settings.tracking_uri)
        # download_artifacts puts a folder's content in dst_path, or the folder itself as its last component.
        found = [path for path in (scratch, *scratch.iterdir()) if (path / "MLmodel").is_file()]
        if not found:
            raise RegistryError(f"{source} holds no MLmodel file", hint="was it logged with mlflow.<flavor>.log_model?")
        files = found[0]
        write_atomic(files / METADATA_FILE, json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        files.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _replace_dir(source: Path, target: Path) -> None:
    """Make ``target`` a copy of ``source``: build it beside, then swap it in with renames (restored on failure)."""
    fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
    old: Path | None = None
    try:
        shutil.copytree(source, fresh, dirs_exist_ok=True)
        if target.exists():
            old = target.parent / f".{target.name}-old-{uuid.uuid4().hex}"
            target.rename(old)
        try:
            fresh.rename(target)
        except OSError:
            if old is not None:
                old.rename(target)
                old = None
            raise
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _metadata(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(key) == b.get(key) for key in _IDENTITY)
