"""Rows of ``reprise_reproductions``: every reproduction's target, verdict, causes and report, with who and when.

The row and its lineage (``<target> -> reproduction:<id>`` for the run, and the model or version it verified) are
written in one transaction, so ``reprise lineage show model:clf/3`` sees whether and when it last reproduced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from reprise.store._rows import row_values
from reprise.store.db import reading, writing
from reprise.store.lineage import Edge, link_in, node

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import Engine

__all__ = ["ReproductionRow", "insert_reproduction", "latest_reproductions"]


@dataclass(frozen=True)
class ReproductionRow:
    """One reproduction as stored.

    Attributes:
        reproduction_id: Its id (the MLflow "reproduction" run's id, so both stores point at each other).
        target: The REF reproduced (``run:<id>``, ``model:clf/3``, ``version:v1``...).
        verdict: identical, within_tolerance, different, unverified or failed.
        causes: The causes found, most likely first (``{"kind", "title"}``).
        details: The headline, the runs compared, the evidence counts.
        report_path: Where the HTML report is (an MLflow artifact URI).
        actor: ``user@host``.
        started_at: When it started (UTC).
        finished_at: When the verdict was reached (UTC).
    """

    reproduction_id: str
    target: str
    verdict: str
    causes: list[dict[str, Any]]
    details: dict[str, Any]
    report_path: str | None
    actor: str
    started_at: datetime
    finished_at: datetime


def insert_reproduction(engine: Engine, row: ReproductionRow, verified: Sequence[str] = ()) -> None:
    """Store ``row`` and link every REF in ``verified`` (and the target) to it, in one transaction.

    Args:
        engine: From :func:`reprise.store.db.open_store`.
        row: The reproduction.
        verified: Other REFs this reproduction verifies (the model version of a run, for instance).
    """
    from sqlalchemy import insert

    from reprise.store.tables import reproductions

    done = node("reproduction", row.reproduction_id)
    refs = dict.fromkeys([row.target, *verified])
    with writing(engine) as conn:
        conn.execute(insert(reproductions).values(**asdict(row)))
        link_in(conn, [Edge(ref, done, "reproduced") for ref in refs])


def latest_reproductions(engine: Engine, targets: Sequence[str]) -> dict[str, ReproductionRow]:
    """The newest reproduction of each REF in ``targets`` that has one (as target or verified REF)."""
    from sqlalchemy import select

    from reprise.store.tables import lineage_edges, reproductions

    wanted = list(dict.fromkeys(targets))
    if not wanted:
        return {}
    prefix = "reproduction:"
    query = (
        select(lineage_edges.c.src, reproductions)
        .join(reproductions, lineage_edges.c.dst == prefix + reproductions.c.reproduction_id)
        .where(lineage_edges.c.src.in_(wanted), lineage_edges.c.relation == "reproduced")
        .order_by(reproductions.c.finished_at)
    )
    latest: dict[str, ReproductionRow] = {}
    with reading(engine) as conn:
        for found in conn.execute(query).mappings():
            latest[str(found["src"])] = ReproductionRow(**row_values(found, ReproductionRow.__dataclass_fields__))
    return latest
