"""Serving only what a signed release attests: ``reprise serve NAME@ENV --require-attestation``.

Before a version is loaded (at startup and on every reload), its files are downloaded, checked against the
attestation of a release that ships it (a trusted, unrevoked key's signature; the release unchanged; every file's
sha256 as attested) and loaded from exactly those files. A refusal at startup is a one-line error and a non-zero exit;
on a reload it leaves the previous model serving and shows in ``/health`` (:class:`reprise.serve.loader.ModelSlot`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reprise.config import Settings
    from reprise.tracking.serving import ServableModel, ServedVersion

__all__ = ["check_attested", "load_attested"]


def check_attested(settings: Settings, name: str, version: int) -> str:
    """Verify that ``name`` v``version`` is shipped by an attested release and its files are as attested.

    Returns:
        The release (``release:NAME@VERSION``) whose attestation verified.

    Raises:
        AttestationError: No attested release ships it, or its attestation does not verify.
    """
    from reprise.versioning.attestation import verified_model_files

    with tempfile.TemporaryDirectory(prefix="reprise-attested-") as scratch:
        release, _ = verified_model_files(settings, name, version, Path(scratch))
    return release.ref


def load_attested(settings: Settings, version: ServedVersion, *, allow_pickle: bool = False) -> ServableModel:
    """Load ``version`` from files just verified against its release's attestation (see the module).

    Raises:
        AttestationError: The attestation does not verify; nothing is loaded.
        RegistryError: The model cannot be loaded.
    """
    from reprise.tracking.serving import load_servable_folder
    from reprise.versioning.attestation import verified_model_files

    # The files stay on disk as long as the model lives: some flavours read them lazily.
    folder = tempfile.TemporaryDirectory(prefix="reprise-serve-")
    try:
        _, local = verified_model_files(settings, version.name, version.version, Path(folder.name))
        return load_servable_folder(
            str(local), f"{version.name} v{version.version}", allow_pickle=allow_pickle, folder=folder
        )
    except BaseException:
        folder.cleanup()
        raise
