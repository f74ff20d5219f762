"""Rows of ``reprise_signing_keys``: the public keys trusted to sign release attestations, and their revocations.

Only public keys are stored: whoever shares the store can verify, only the holder of a private key can sign. A
revoked key stays (with when and why), so an attestation it signed is refused by name rather than as unknown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from reprise.store._rows import row_values
from reprise.store.db import reading, writing

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Engine

__all__ = ["SigningKeyRow", "insert_signing_key", "list_signing_keys", "revoke_signing_key"]


@dataclass(frozen=True)
class SigningKeyRow:
    """One signing key: its id, its public half (PEM), who made it and when, and its revocation if any."""

    key_id: str
    public_key: str
    actor: str
    created_at: datetime
    revoked_at: datetime | None = None
    revoke_reason: str | None = None


def insert_signing_key(engine: Engine, row: SigningKeyRow) -> None:
    """Trust the public key of ``row``."""
    from sqlalchemy import insert

    from reprise.store.tables import signing_keys

    with writing(engine) as conn:
        conn.execute(insert(signing_keys).values(**asdict(row)))


def list_signing_keys(engine: Engine) -> list[SigningKeyRow]:
    """Every key, revoked ones included, oldest first."""
    from sqlalchemy import select

    from reprise.store.tables import signing_keys

    query = select(signing_keys).order_by(signing_keys.c.created_at, signing_keys.c.key_id)
    with reading(engine) as conn:
        found = conn.execute(query).mappings().all()
    return [SigningKeyRow(**row_values(values, SigningKeyRow.__dataclass_fields__)) for values in found]


def revoke_signing_key(engine: Engine, key_id: str, at: datetime, reason: str) -> bool:
    """Revoke ``key_id`` (the first revocation stands).

    Returns:
        Whether a key not yet revoked was revoked now.
    """
    from sqlalchemy import update

    from reprise.store.tables import signing_keys

    with writing(engine) as conn:
        done = conn.execute(
            update(signing_keys)
            .where(signing_keys.c.key_id == key_id, signing_keys.c.revoked_at.is_(None))
            .values(revoked_at=at, revoke_reason=reason)
        )
    return bool(done.rowcount)
