"""Schema migrations: an ordered list of small functions, applied once each, recorded in a table.

Why not Alembic: it is not a dependency of Reprise (only of MLflow, at MLflow's pin), its script directory and
``env.py`` are a lot of machinery for a handful of migrations, and the upgrade needs a cross-process lock either way.
Here every migration is a module with ``VERSION``, ``NAME`` and ``upgrade(connection)``; :func:`upgrade` applies the
missing ones in one transaction under a lock (``BEGIN IMMEDIATE`` on SQLite, ``pg_advisory_xact_lock`` on
PostgreSQL; both run DDL transactionally), so two processes opening an empty store at once do not collide; on SQLite
:func:`reprise.store.db.open_store` also holds the inter-process file lock ``<db>.lock`` around it, so the first
connection (which switches the new file to WAL) is not raced either. To change
the schema: add ``m000N_<what>.py`` with its own frozen table definitions, append it to ``MIGRATIONS``, and update
:mod:`reprise.store.tables` to the new head.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol

from reprise.errors import ConfigError
from reprise.store.migrations import m0001_data_versions, m0002_lineage, m0003_releases

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = ["HEAD", "MIGRATIONS", "current_version", "upgrade"]

#: Key of the PostgreSQL advisory lock held while migrating ("REPRISE" in ASCII).
_LOCK_KEY: Final = 0x52455052495345


class _Migration(Protocol):
    VERSION: int
    NAME: str

    def upgrade(self, connection: Connection) -> None: ...


MIGRATIONS: Final[tuple[_Migration, ...]] = (m0001_data_versions, m0002_lineage, m0003_releases)
HEAD: Final = MIGRATIONS[-1].VERSION


def current_version(engine: Engine) -> int:
    """The newest migration applied to the store (0 for an empty database).

    Args:
        engine: A store engine.

    Returns:
        The schema version.
    """
    from sqlalchemy import func, inspect, select

    from reprise.store.db import reading
    from reprise.store.tables import schema_migrations

    with reading(engine) as conn:
        if not inspect(conn).has_table(schema_migrations.name):
            return 0
        return int(conn.execute(select(func.coalesce(func.max(schema_migrations.c.version), 0))).scalar_one())


def upgrade(engine: Engine) -> list[int]:
    """Apply every migration the store lacks, in order, in one locked transaction.

    Args:
        engine: A store engine.

    Returns:
        The versions applied now (empty when the store was at head).

    Raises:
        ConfigError: The store's schema is newer than this Reprise knows.
    """
    from sqlalchemy import insert, select, text

    from reprise.store.db import redacted, writing
    from reprise.store.tables import schema_migrations

    applied_now: list[int] = []
    with writing(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        schema_migrations.create(conn, checkfirst=True)
        done = set(conn.execute(select(schema_migrations.c.version)).scalars())
        if done and max(done) > HEAD:
            raise ConfigError(
                f"the metadata store {redacted(str(engine.url))} has schema version {max(done)}, newer than this "
                f"Reprise knows ({HEAD})",
                hint="upgrade reprise (uv pip install -U reprise)",
            )
        for migration in MIGRATIONS:
            if migration.VERSION in done:
                continue
            migration.upgrade(conn)
            conn.execute(
                insert(schema_migrations).values(
                    version=migration.VERSION, name=migration.NAME, applied_at=datetime.now(UTC)
                )
            )
            applied_now.append(migration.VERSION)
    return applied_now
