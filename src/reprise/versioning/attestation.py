"""Signed release attestations: an in-toto Statement v1 with a SLSA Provenance v1 predicate, in a DSSE envelope.

The statement's subjects are the model version's files by sha256 (what the registry hands out for
``models:/NAME/VERSION``); its predicate names as resolved dependencies every other component of the release with
its digest (commit, patch, environment/pins digest, runs' inputs, data manifests, pipeline specs and fits), the
release and a digest of its identity (name, version, unified version, components) as external parameters, and
Reprise and its version as the builder. The envelope is signed with an Ed25519 key (:mod:`reprise.versioning.keys`)
over DSSE's pre-authentication encoding, all offline. It is stored as a content-addressed document, its digest on
the release, an ``attested`` event in the history, and can be exported next to the code as
``releases/NAME/VERSION.intoto.jsonl``.

:func:`verify_attestation` refuses (as problems, one line each) an envelope signed by no trusted key or by a revoked
one, a release whose identity changed since, and model files that differ from the subjects.
:func:`verified_model_files` is what ``reprise serve --require-attestation`` calls before loading a version.

Example:
    >>> attest_release("churn@1.2.0", export=True).path   # doctest: +SKIP
    PosixPath('.../releases/churn/1.2.0.intoto.jsonl')
    >>> verify_attestation("churn@1.2.0").ok               # doctest: +SKIP
    True
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict

from reprise._canonical import canonical_json, digest, write_atomic
from reprise.config import load_settings
from reprise.errors import AttestationError
from reprise.versioning.releases import Release, get_release, new_event

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = [
    "Attestation",
    "AttestationCheck",
    "attest_release",
    "release_digest",
    "verified_model_files",
    "verify_attestation",
]

PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final = "https://slsa.dev/provenance/v1"
BUILD_TYPE: Final = "https://reprise.dev/release/v1"
BUILDER_ID: Final = "https://reprise.dev/builder/v1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Attestation(_Frozen):
    """A release's signed attestation.

    Attributes:
        release: ``release:NAME@VERSION``.
        key_id: The key that signed it.
        digest: The digest of the envelope as stored.
        subjects: The model files attested, by path, with their sha256.
        path: Where it was exported, if it was.
    """

    release: str
    key_id: str
    digest: str
    subjects: dict[str, str]
    path: Path | None = None


class AttestationCheck(_Frozen):
    """The result of verifying a release's attestation.

    Attributes:
        release: ``release:NAME@VERSION``.
        key_id: The trusted key whose signature verified, if one did.
        problems: What does not hold, one line each (empty: verified).
    """

    release: str
    key_id: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the attestation verified: signed by a trusted key, and release and model files as attested."""
        return not self.problems


def release_digest(release: Release) -> str:
    """The digest of what identifies a release: name, version, unified version and components with digests."""
    return digest(
        {
            "name": release.name,
            "version": release.version,
            "unified_version": release.unified_version,
            "components": [component.model_dump() for component in release.components],
        }
    )


def attest_release(
    ref: str, *, key_id: str | None = None, export: bool = False, settings: Settings | None = None
) -> Attestation:
    """Sign an attestation of release ``ref`` with a key this machine holds, and store it with the release.

    Args:
        ref: The release (``NAME@VERSION``).
        key_id: The key to sign with (default: the newest trusted key whose private half is here).
        export: Also write ``releases/NAME/VERSION.intoto.jsonl`` in the project (to commit next to the code).
        settings: Project settings (default: loaded from the working directory).

    Raises:
        AttestationError: No usable signing key.
        NotFoundError: No such release.
        RegistryError: The model's files cannot be downloaded.
    """
    from reprise.store.db import open_store
    from reprise.store.releases import record_release_event
    from reprise.versioning.keys import load_signer

    settings = settings or load_settings()
    release = get_release(ref, settings=settings)
    signer_id, signer = load_signer(key_id, settings=settings)
    subjects = _model_digests(settings, release, None)
    payload = canonical_json(_statement(release, subjects)).encode()
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": signer_id, "sig": base64.b64encode(signer.sign(_pae(payload))).decode()}],
    }
    text = canonical_json(envelope)
    envelope_digest = digest(envelope)
    event = new_event(
        release.name, release.version, "attested", details={"key_id": signer_id, "attestation": envelope_digest}
    )
    record_release_event(
        open_store(settings),
        event,
        attestation_digest=envelope_digest,
        document=(envelope_digest, "release-attestation", text),
    )
    path = None
    if export:
        path = settings.project_dir / "releases" / release.name / f"{release.version}.intoto.jsonl"
        write_atomic(path, text + "\n")
    return Attestation(release=release.ref, key_id=signer_id, digest=envelope_digest, subjects=subjects, path=path)


def verify_attestation(ref: str, *, folder: Path | None = None, settings: Settings | None = None) -> AttestationCheck:
    """Verify release ``ref``'s attestation against the trusted keys, the release as stored and the model's files.

    Args:
        ref: The release.
        folder: The model's files to check (default: downloaded from the registry now).
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The check; ``ok`` only if a trusted, unrevoked key's signature verifies and nothing changed since.
    """
    from reprise.store.db import open_store
    from reprise.store.documents import read_document

    settings = settings or load_settings()
    release = get_release(ref, settings=settings)
    if release.attestation_digest is None:
        return AttestationCheck(release=release.ref, key_id=None, problems=(f"{release.ref} has no attestation",))
    text = read_document(open_store(settings), release.attestation_digest)
    if text is None or digest(json.loads(text)) != release.attestation_digest:
        problem = f"the attestation document of {release.ref} is missing or was edited"
        return AttestationCheck(release=release.ref, key_id=None, problems=(problem,))
    envelope = json.loads(text)
    payload = base64.b64decode(envelope.get("payload", ""))
    key_id, problems = _signature(settings, envelope, payload)
    problems += _statement_problems(settings, release, json.loads(payload), folder)
    return AttestationCheck(release=release.ref, key_id=key_id, problems=tuple(problems))


def verified_model_files(settings: Settings, name: str, version: int, destination: Path) -> tuple[Release, Path]:
    """Download model ``name`` v``version`` and check it against the attestation of a release that ships it.

    The release is one downstream of ``model:NAME/VERSION`` in lineage with an attestation (the newest that
    verifies). The files checked are the files returned, so what is loaded is what was verified.

    Returns:
        The release and the folder of verified files.

    Raises:
        AttestationError: No release ships this version with an attestation that verifies (the message says why).
        RegistryError: The files cannot be downloaded.
    """
    from reprise.registry.model_files import download_model_files
    from reprise.store.db import open_store
    from reprise.store.lineage import walk

    model = f"model:{name}/{version}"
    refs = [reached.ref for reached in walk(open_store(settings), model, "down") if reached.kind == "release"]
    releases = [get_release(ref, settings=settings) for ref in refs]
    attested = sorted((r for r in releases if r.attestation_digest), key=lambda r: r.created_at, reverse=True)
    if not attested:
        raise AttestationError(
            f"{model} is in no attested release",
            hint="reprise release attest NAME@VERSION for the release that ships it, or serve without "
            "--require-attestation",
        )
    folder = download_model_files(settings, name, version, destination)
    checks = [verify_attestation(release.ref, folder=folder, settings=settings) for release in attested]
    for release, check in zip(attested, checks, strict=True):
        if check.ok:
            return release, folder
    first = checks[0]
    raise AttestationError(
        f"{model} refused: {first.problems[0]}"
        + (f" (+{len(first.problems) - 1} more)" if len(first.problems) > 1 else ""),
        hint=f"reprise release verify-attestation {first.release.removeprefix('release:')}",
    )


def _pae(payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed, so the payload type cannot be swapped."""
    kind = PAYLOAD_TYPE.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _statement(release: Release, subjects: dict[str, str]) -> dict[str, Any]:
    from importlib.metadata import version as distribution_version

    dependencies: list[dict[str, Any]] = []
    for component in release.components:
        value = component.digest or ""
        if component.ref.startswith("commit:"):
            dependencies.append({"uri": f"git+{component.ref}", "digest": {"gitCommit": value}})
        elif component.ref.startswith("model:"):
            model = component.ref.removeprefix("model:")
            dependencies.append({"uri": f"models:/{model}", "digest": {"sha256": value.removeprefix("sha256:")}})
        elif value.startswith("sha256:"):
            dependencies.append({"name": component.ref, "digest": {"sha256": value.removeprefix("sha256:")}})
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": path, "digest": {"sha256": sha}} for path, sha in sorted(subjects.items())],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "release": release.ref,
                    "unified_version": release.unified_version,
                    "release_digest": release_digest(release),
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"reprise": distribution_version("reprise")}},
                "metadata": {"invocationId": release.ref, "startedOn": release.created_at.isoformat()},
            },
        },
    }


def _signature(settings: Settings, envelope: dict[str, Any], payload: bytes) -> tuple[str | None, list[str]]:
    from cryptography.exceptions import InvalidSignature

    from reprise.versioning.keys import trusted_keys

    if envelope.get("payloadType") != PAYLOAD_TYPE:
        return None, [f"the envelope's payload type is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE}"]
    keys = trusted_keys(settings=settings)
    problems: list[str] = []
    for signature in envelope.get("signatures", []):
        key_id = str(signature.get("keyid"))
        if key_id not in keys:
            problems.append(f"signed by {key_id}, a key the store does not trust")
            continue
        public, key = keys[key_id]
        try:
            public.verify(base64.b64decode(signature.get("sig", "")), _pae(payload))
        except InvalidSignature:
            problems.append(f"the signature by {key_id} does not verify (the statement was altered)")
            continue
        if key.revoked_at is not None:
            problems.append(f"signed by {key_id}, revoked at {key.revoked_at:%Y-%m-%d %H:%M} UTC ({key.revoke_reason})")
            continue
        return key_id, []
    return None, problems or ["the envelope has no signature"]


def _statement_problems(
    settings: Settings, release: Release, statement: dict[str, Any], folder: Path | None
) -> list[str]:
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != PREDICATE_TYPE:
        return ["the payload is not an in-toto Statement v1 with a SLSA Provenance v1 predicate"]
    parameters = statement["predicate"]["buildDefinition"]["externalParameters"]
    problems = []
    if parameters.get("release") != release.ref or parameters.get("release_digest") != release_digest(release):
        problems.append(f"{release.ref} changed since it was attested (its components or identity differ)")
    attested = {subject["name"]: subject["digest"]["sha256"] for subject in statement.get("subject", [])}
    actual = _model_digests(settings, release, folder)
    for path in sorted(set(attested) | set(actual)):
        if path not in actual:
            problems.append(f"model file {path} is missing")
        elif path not in attested:
            problems.append(f"model file {path} was added after the attestation")
        elif attested[path] != actual[path]:
            problems.append(f"model file {path} changed since the attestation (sha256 {actual[path][:12]}...)")
    return problems


def _model_digests(settings: Settings, release: Release, folder: Path | None) -> dict[str, str]:
    from reprise.registry.model_files import download_model_files, file_digests

    if release.model is None:
        return {}
    if folder is not None:
        return file_digests(folder)
    name, _, number = release.model.removeprefix("model:").rpartition("/")
    with tempfile.TemporaryDirectory(prefix="reprise-attest-") as scratch:
        return file_digests(download_model_files(settings, name, int(number), Path(scratch)))
