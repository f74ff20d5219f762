"""Ed25519 signing keys for release attestations: the private half on this machine, the public half in the store.

:func:`generate_key` writes the private key to ``keys_dir`` (default ``$XDG_CONFIG_HOME/reprise/keys``, i.e.
``~/.config/reprise/keys``), created with mode 0600 so no other user can read it, and refuses a folder inside the
project (a key committed by mistake is a key leaked). The public key goes to the metadata store, where every
verifier (a colleague, CI, ``reprise serve --require-attestation``) finds the keys it trusts. A key id is
``ed25519:`` and the first 32 hex digits of the sha256 of the raw public key. Revoking a key keeps its row, so an
attestation it signed is refused by name; in team mode only a maintainer revokes one
(:mod:`reprise.versioning.maintainers`). Nothing here logs or returns the private key.

Example:
    >>> key = generate_key()        # doctest: +SKIP
    >>> key.key_id, key.has_private  # doctest: +SKIP
    ('ed25519:6f1c...', True)
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from reprise.config import load_settings
from reprise.errors import AttestationError, ConfigError, NotFoundError
from reprise.versioning.maintainers import require_maintainer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    from reprise.config import Settings
    from reprise.store.signing_keys import SigningKeyRow

__all__ = [
    "SigningKey",
    "generate_key",
    "has_signer",
    "key_id_of",
    "keys_dir",
    "list_keys",
    "load_signer",
    "revoke_key",
    "trusted_keys",
]


class SigningKey(BaseModel):
    """A signing key as a verifier sees it.

    Attributes:
        key_id: ``ed25519:<hex>``.
        public_key: The public half, PEM.
        actor: Who generated it.
        created_at: When.
        revoked_at: When it was revoked, if it was.
        revoke_reason: Why.
        has_private: Whether its private half is in this machine's ``keys_dir`` (this user can sign with it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str
    public_key: str
    actor: str
    created_at: datetime
    revoked_at: datetime | None = None
    revoke_reason: str | None = None
    has_private: bool = False


def keys_dir(settings: Settings) -> Path:
    """Where private keys live: ``keys_dir`` from settings, else ``$XDG_CONFIG_HOME/reprise/keys``.

    Raises:
        ConfigError: The folder is inside the project (keys must stay out of repositories).
    """
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    folder = settings.keys_dir or Path(base).expanduser().resolve() / "reprise" / "keys"
    if folder.is_relative_to(settings.project_dir.resolve()):
        raise ConfigError(
            f"keys_dir {folder} is inside the project {settings.project_dir}: a private key would end up in git",
            hint="set keys_dir (or REPRISE_KEYS_DIR) to a folder outside the repository, e.g. ~/.config/reprise/keys",
        )
    return folder


def generate_key(*, settings: Settings | None = None) -> SigningKey:
    """Make an Ed25519 key pair: the private half to ``keys_dir`` (mode 0600), the public half into the store.

    Returns:
        The new key (trusted from now on).

    Raises:
        ConfigError: ``keys_dir`` is inside the project.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from reprise.registry.history import Actor
    from reprise.store.db import open_store
    from reprise.store.signing_keys import SigningKeyRow, insert_signing_key

    settings = settings or load_settings()
    folder = keys_dir(settings)
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    key_id = key_id_of(public)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / _file_name(key_id)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even once
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    row = SigningKeyRow(key_id, _public_pem(public), str(Actor.current()), datetime.now(UTC))
    insert_signing_key(open_store(settings), row)
    return _key(row, True)


def list_keys(*, settings: Settings | None = None) -> list[SigningKey]:
    """Every key the store knows, revoked ones included, and whether this machine holds its private half."""
    from reprise.store.db import open_store
    from reprise.store.signing_keys import list_signing_keys

    settings = settings or load_settings()
    folder = keys_dir(settings)
    rows = list_signing_keys(open_store(settings))
    return [_key(row, (folder / _file_name(row.key_id)).is_file()) for row in rows]


def revoke_key(key_id: str, *, reason: str, settings: Settings | None = None) -> SigningKey:
    """Stop trusting ``key_id``: attestations it signed are refused from now on.

    Raises:
        NotFoundError: No such key.
        AttestationError: No reason given.
        ReleaseGuardError: The caller is no maintainer of the team's server.
    """
    from reprise.store.db import open_store
    from reprise.store.signing_keys import revoke_signing_key

    settings = settings or load_settings()
    if not reason.strip():
        raise AttestationError(f"revoking key {key_id} needs a reason", hint="add --reason TEXT")
    require_maintainer(f"revoking key {key_id}", settings=settings)
    _find(settings, key_id)
    revoke_signing_key(open_store(settings), key_id, datetime.now(UTC), reason.strip())
    return _find(settings, key_id)


def has_signer(*, settings: Settings | None = None) -> bool:
    """Whether this machine holds the private half of a trusted, unrevoked key (so releases can be signed here)."""
    return any(key.has_private and key.revoked_at is None for key in list_keys(settings=settings))


def load_signer(key_id: str | None = None, *, settings: Settings | None = None) -> tuple[str, Ed25519PrivateKey]:
    """The private key to sign with: ``key_id``, or the newest trusted key this machine holds.

    Raises:
        AttestationError: No such usable key (none generated, revoked, or its private half is not here).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    settings = settings or load_settings()
    usable = [key for key in list_keys(settings=settings) if key.has_private and key.revoked_at is None]
    chosen = [key for key in usable if key_id is None or key.key_id == key_id]
    if not chosen:
        wanted = f"key {key_id}" if key_id else "a signing key"
        raise AttestationError(
            f"no usable {wanted} in {keys_dir(settings)} (trusted, not revoked, private half on this machine)",
            hint="reprise keys generate (or see reprise keys list)",
        )
    key = chosen[-1]
    loaded = serialization.load_pem_private_key((keys_dir(settings) / _file_name(key.key_id)).read_bytes(), None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AttestationError(f"the private key file of {key.key_id} is not an Ed25519 key", hint="generate a new key")
    return key.key_id, loaded


def trusted_keys(*, settings: Settings | None = None) -> dict[str, tuple[Ed25519PublicKey, SigningKey]]:
    """Every key the store knows, by id, with its loaded public half (revoked ones included, marked as such)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    found: dict[str, tuple[Ed25519PublicKey, SigningKey]] = {}
    for key in list_keys(settings=settings):
        public: Any = serialization.load_pem_public_key(key.public_key.encode())
        if isinstance(public, Ed25519PublicKey):
            found[key.key_id] = (public, key)
    return found


def key_id_of(public: Ed25519PublicKey) -> str:
    """``ed25519:`` and 32 hex digits of the sha256 of the raw public key."""
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]


def _public_pem(public: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _file_name(key_id: str) -> str:
    return key_id.replace(":", "-") + ".pem"


def _find(settings: Settings, key_id: str) -> SigningKey:
    for key in list_keys(settings=settings):
        if key.key_id == key_id:
            return key
    raise NotFoundError(f"no signing key {key_id}", hint="reprise keys list")


def _key(row: SigningKeyRow, has_private: bool) -> SigningKey:
    return SigningKey(
        key_id=row.key_id,
        public_key=row.public_key,
        actor=row.actor,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason,
        has_private=has_private,
    )
