"""Lineage: the one place a relation between two things Reprise knows is written, and the queries both ways.

A node is a readable reference, ``kind:key`` (the grammar of :mod:`reprise.versioning.refs`): ``data:raw@v1``,
``pipeline:prep@1.2.0``, ``fit:<id>``, ``commit:<sha>``, ``run:<id>``, ``model:name/3``, ``version:NAME``,
``release:NAME@1.0.0``, ``reproduction:<id>``, and ``artifact:<sha256>`` for the exact content of a file or folder
one run wrote and another read (how the stages of a pipeline chain up). An edge points downstream, from what was
used to what came of it (``data:raw@v1 -> run:abc``, ``run:abc -> model:clf/3``, ``model:clf/3 -> version:v1``).
Nodes are made on first mention, so whoever writes an edge never has to create its ends first.

Every write that relates two things calls :func:`link` (or :func:`link_in` inside a transaction it already holds),
so ancestry and impact see everything. An edge that would close a cycle is refused: the graph stays a DAG, which is
what makes "what went into it" and "what came of it" answerable. Queries are one recursive CTE each way, the same SQL
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal

from reprise.errors import LineageError
from reprise.store.db import reading, writing

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sqlalchemy import Connection, Engine

__all__ = [
    "KINDS",
    "Direction",
    "Edge",
    "Reached",
    "add_nodes_in",
    "edges_among",
    "has_node",
    "kind_of",
    "link",
    "link_in",
    "node",
    "walk",
]

#: Every kind of node, upstream first.
KINDS: Final = (
    "commit",
    "data",
    "artifact",
    "pipeline",
    "fit",
    "run",
    "model",
    "version",
    "release",
    "reproduction",
)

#: ``up``: what went into a node (ancestry). ``down``: what came of it (impact).
Direction = Literal["up", "down"]

#: How deep a walk goes when no depth is asked for (a real chain is a few dozen links).
_UNBOUNDED: Final = 1000


@dataclass(frozen=True)
class Edge:
    """``src`` was used by, or produced, ``dst``.

    Attributes:
        src: The upstream node's REF.
        dst: The downstream node's REF.
        relation: ``used``, ``produced``, ``fitted``, ``contains``, ``component``, ``reproduced``...
    """

    src: str
    dst: str
    relation: str


@dataclass(frozen=True)
class Reached:
    """A node found by :func:`walk`, and how far from the start.

    Attributes:
        ref: The node's REF.
        kind: Its kind (the part before the first ``:``).
        depth: The number of edges on the shortest path from the start.
    """

    ref: str
    kind: str
    depth: int


def node(kind: str, key: str) -> str:
    """The REF of a node: ``node("model", "clf/3") == "model:clf/3"``.

    Raises:
        LineageError: ``kind`` is not a known kind or ``key`` is empty.
    """
    ref = f"{kind}:{key}"
    kind_of(ref)
    return ref


def kind_of(ref: str) -> str:
    """The kind of a node REF (``run`` for ``run:abc``).

    Raises:
        LineageError: The REF has no known ``kind:`` prefix or nothing after it.
    """
    kind, sep, key = ref.partition(":")
    if not sep or not key or kind not in KINDS:
        raise LineageError(
            f"{ref!r} is not a lineage reference", hint=f"write KIND:KEY with KIND one of {', '.join(KINDS)}"
        )
    return kind


def link(engine: Engine, edges: Iterable[Edge]) -> None:
    """Record ``edges`` (and their nodes) in one transaction; all or none.

    Args:
        engine: From :func:`reprise.store.db.open_store`.
        edges: The relations to add; an edge already recorded is kept as it was.

    Raises:
        LineageError: An edge would close a cycle (nothing is written), or a REF is malformed.
    """
    with writing(engine) as conn:
        link_in(conn, edges)


def link_in(conn: Connection, edges: Iterable[Edge]) -> None:
    """:func:`link` inside a transaction the caller holds (so a row and its relations commit together)."""
    now = datetime.now(UTC)
    for edge in edges:
        if edge.src == edge.dst:
            raise LineageError(f"{edge.src} cannot be its own {edge.relation} input", hint="link two different nodes")
        _ensure_nodes(conn, (edge.src, edge.dst), now)
        if _reaches(conn, edge.dst, edge.src):
            raise LineageError(
                f"linking {edge.src} -> {edge.dst} would make a cycle: {edge.dst} is already upstream of {edge.src}",
                hint="lineage points from what was used to what came of it; check the direction",
            )
        _insert_ignoring_duplicate(
            conn, "edges", {"src": edge.src, "dst": edge.dst, "relation": edge.relation, "created_at": now}
        )


def has_node(engine: Engine, ref: str) -> bool:
    """Whether ``ref`` is a node (something lineage has heard of)."""
    from sqlalchemy import select

    from reprise.store.tables import lineage_nodes

    with reading(engine) as conn:
        return conn.execute(select(lineage_nodes.c.ref).where(lineage_nodes.c.ref == ref)).first() is not None


def add_nodes_in(conn: Connection, refs: Iterable[str]) -> None:
    """Make sure ``refs`` are nodes (a thing is in lineage from its creation, before anything relates to it)."""
    _ensure_nodes(conn, refs, datetime.now(UTC))


def walk(
    engine: Engine,
    ref: str,
    direction: Direction,
    *,
    depth: int | None = None,
    kinds: Sequence[str] | None = None,
) -> list[Reached]:
    """Every node upstream (``up``) or downstream (``down``) of ``ref``, nearest first.

    One recursive CTE, identical on SQLite and PostgreSQL; it follows the edge index of its direction. The kind of a
    node is the prefix of its REF, so the answer needs no join to the nodes table (on PostgreSQL that join read every
    node on every call: ``bench/bench_lineage.py``).

    Args:
        engine: A store engine.
        ref: The start node (not included in the answer).
        direction: ``up`` (ancestry) or ``down`` (impact).
        depth: At most this many edges away (default: all).
        kinds: Keep only nodes of these kinds (the walk still goes through the others).

    Returns:
        The nodes reached, each at its shortest distance, sorted by distance then REF.
    """
    from sqlalchemy import text

    near, far = ("dst", "src") if direction == "up" else ("src", "dst")
    params: dict[str, object] = {"start": ref, "limit": depth or _UNBOUNDED}
    where = ""
    if kinds is not None:
        params.update({f"kind{number}": f"{kind}:%" for number, kind in enumerate(kinds)})
        where = "WHERE " + (" OR ".join(f"ref LIKE :kind{number}" for number in range(len(kinds))) or "1 = 0")
    query = text(
        f"""
        WITH RECURSIVE reached(ref, depth) AS (
            SELECT e.{far}, 1 FROM reprise_lineage_edges e WHERE e.{near} = :start
            UNION
            SELECT e.{far}, r.depth + 1 FROM reprise_lineage_edges e JOIN reached r ON e.{near} = r.ref
            WHERE r.depth < :limit
        )
        SELECT ref, MIN(depth) AS depth FROM reached {where}
        GROUP BY ref
        ORDER BY depth, ref
        """  # noqa: S608 - column names come from the fixed pair above, the kinds are bound parameters
    )
    with reading(engine) as conn:
        rows = conn.execute(query, params).all()
    return [Reached(ref=str(row[0]), kind=kind_of(str(row[0])), depth=int(row[1])) for row in rows]


def edges_among(engine: Engine, refs: Sequence[str]) -> list[Edge]:
    """The recorded edges whose two ends are both in ``refs`` (to draw the graph a walk found).

    Args:
        engine: A store engine.
        refs: Node REFs.

    Returns:
        The edges, sorted by (src, dst).
    """
    from sqlalchemy import select

    from reprise.store.tables import lineage_edges

    wanted = set(refs)
    found: list[Edge] = []
    chunk = 500  # SQLite's limit on bound parameters is generous, but keep IN lists bounded
    ordered = sorted(wanted)
    with reading(engine) as conn:
        for start in range(0, len(ordered), chunk):
            part = ordered[start : start + chunk]
            query = select(lineage_edges.c.src, lineage_edges.c.dst, lineage_edges.c.relation).where(
                lineage_edges.c.src.in_(part)
            )
            found.extend(Edge(str(src), str(dst), str(rel)) for src, dst, rel in conn.execute(query) if dst in wanted)
    return sorted(found, key=lambda edge: (edge.src, edge.dst))


def _reaches(conn: Connection, start: str, goal: str) -> bool:
    from sqlalchemy import text

    query = text(
        """
        WITH RECURSIVE down(ref) AS (
            SELECT CAST(:start AS VARCHAR(512))
            UNION
            SELECT e.dst FROM reprise_lineage_edges e JOIN down d ON e.src = d.ref
        )
        SELECT 1 FROM down WHERE ref = :goal LIMIT 1
        """
    )
    return conn.execute(query, {"start": start, "goal": goal}).first() is not None


def _ensure_nodes(conn: Connection, refs: Iterable[str], now: datetime) -> None:
    for ref in refs:
        _insert_ignoring_duplicate(conn, "nodes", {"ref": ref, "kind": kind_of(ref), "created_at": now})


def _insert_ignoring_duplicate(conn: Connection, which: Literal["nodes", "edges"], values: dict[str, object]) -> None:
    from reprise.store._upsert import insert_if_absent
    from reprise.store.tables import lineage_edges, lineage_nodes

    if which == "nodes":
        insert_if_absent(conn, lineage_nodes, values, ["ref"])
    else:
        insert_if_absent(conn, lineage_edges, values, ["src", "dst"])
