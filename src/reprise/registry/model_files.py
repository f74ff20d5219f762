"""A registered model version's files, downloaded from the registry, and the sha256 of each.

What a release attestation names as its subject, and what ``reprise serve --require-attestation`` checks before it
loads: the bytes the registry hands out for ``models:/NAME/VERSION``, file by file.

Example:
    >>> with tempfile.TemporaryDirectory() as folder:                         # doctest: +SKIP
    ...     digests = file_digests(download_model_files(settings, "clf", 3, Path(folder)))
    >>> digests["MLmodel"]                                                     # doctest: +SKIP
    '9f1c...'
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reprise.errors import RegistryError
from reprise.tracking._client import client_for, quiet_downloads

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = ["download_model_files", "file_digests"]

_CHUNK: Final = 1 << 20


def download_model_files(settings: Settings, name: str, version: int, destination: Path) -> Path:
    """Download the files of ``name`` version ``version`` into ``destination``.

    Returns:
        The folder holding the model's ``MLmodel`` file and the rest.

    Raises:
        RegistryError: The version or its files cannot be read.
    """
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    try:
        uri = str(client_for(settings).get_model_version_download_uri(name, str(version)))
        with quiet_downloads():
            local = download_artifacts(artifact_uri=uri, dst_path=str(destination), tracking_uri=settings.tracking_uri)
    except (MlflowException, OSError) as exc:
        raise RegistryError(
            f"cannot download the files of {name} v{version}: {exc}", hint="check that the version exists"
        ) from exc
    return Path(local)


def file_digests(folder: Path) -> dict[str, str]:
    """The sha256 (hex) of every file under ``folder``, by POSIX path relative to it, sorted."""
    digests: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                sha.update(chunk)
        digests[path.relative_to(folder).as_posix()] = sha.hexdigest()
    return digests
