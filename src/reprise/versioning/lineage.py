"""Lineage both ways: what went into a thing (``up``), what came of it (``down``), and what a change would touch.

The graph is written by :func:`reprise.store.lineage.link` wherever a relation is made (capture, registration,
versioning, reproduction); this module answers questions over it with one recursive query each way, and adds what a
reader wants next to each node: the last reproduction of a run, model version or unified version.

Example:
    >>> impact("data:raw@v1").models    # doctest: +SKIP
    ('model:breast_cancer_classifier/1',)
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, ConfigDict

from reprise.config import load_settings
from reprise.versioning.revocations import DeployedDependent

if TYPE_CHECKING:
    from reprise.config import Settings
    from reprise.store.lineage import Direction
    from reprise.store.reproductions import ReproductionRow

__all__ = ["Impact", "LineageNode", "LineageView", "impact", "show_lineage"]

#: Kinds whose last reproduction is shown beside them.
_VERIFIABLE: Final = ("run", "model", "version", "release", "data")
#: Kinds an impact answer lists (the things a team ships).
_SHIPPED: Final = ("model", "version", "release")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineageNode(_Frozen):
    """A node of a lineage answer.

    Attributes:
        ref: Its REF.
        kind: Its kind.
        depth: Edges from the start (0: the start itself).
        direction: ``up`` (it went into the start), ``down`` (it came of the start), or ``start``.
        last_reproduction: ``<verdict> at <time> (reproduction:<id>)`` for a node that was reproduced.
    """

    ref: str
    kind: str
    depth: int
    direction: Literal["up", "down", "start"]
    last_reproduction: str | None = None


class LineageEdge(_Frozen):
    """An edge between two nodes of the answer."""

    src: str
    dst: str
    relation: str


class LineageView(_Frozen):
    """The lineage around one node.

    Attributes:
        start: The REF asked about (canonical).
        nodes: The start, then what is upstream and downstream of it, nearest first.
        edges: The edges among those nodes.
    """

    start: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def to_mermaid(self) -> str:
        """A Mermaid flowchart (``flowchart LR``) of the answer."""
        ids = {node.ref: f"n{number}" for number, node in enumerate(self.nodes)}
        lines = ["flowchart LR"]
        for node in self.nodes:
            label = node.ref.replace('"', "'") + (f"<br/>{node.last_reproduction}" if node.last_reproduction else "")
            lines.append(f'    {ids[node.ref]}["{label}"]')
        lines += [
            f"    {ids[e.src]} -->|{e.relation}| {ids[e.dst]}" for e in self.edges if e.src in ids and e.dst in ids
        ]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        """A standalone HTML page (no script, nothing loaded from elsewhere): the nodes by side, and the edges."""
        rows = "".join(
            f"<tr><td>{node.direction}</td><td>{node.depth}</td><td><code>{html.escape(node.ref)}</code></td>"
            f"<td>{html.escape(node.last_reproduction or '')}</td></tr>"
            for node in self.nodes
        )
        edges = "".join(
            f"<li><code>{html.escape(e.src)}</code> &rarr; <em>{html.escape(e.relation)}</em> &rarr; "
            f"<code>{html.escape(e.dst)}</code></li>"
            for e in self.edges
        )
        title = html.escape(f"Lineage of {self.start}")
        return (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}</style></head>"
            f"<body><h1>{title}</h1><table><thead><tr><th>side</th><th>depth</th><th>node</th>"
            f"<th>last reproduction</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<h2>Edges</h2><ul>{edges}</ul></body></html>\n"
        )


class Impact(_Frozen):
    """What a change to one thing would touch downstream.

    Attributes:
        start: The REF asked about.
        models: Registered model versions downstream of it.
        versions: Unified versions downstream of it.
        releases: Releases downstream of it.
        runs: Runs downstream of it.
        environment: The environment ``deployed`` was limited to, if any.
        deployed: The releases downstream of it active in an environment now, with who promoted them and when.
    """

    start: str
    models: tuple[str, ...]
    versions: tuple[str, ...]
    releases: tuple[str, ...]
    runs: tuple[str, ...]
    environment: str | None = None
    deployed: tuple[DeployedDependent, ...] = ()


def show_lineage(
    ref: str,
    *,
    direction: Literal["up", "down", "both"] = "both",
    depth: int | None = None,
    settings: Settings | None = None,
) -> LineageView:
    """The lineage around ``ref``: upstream, downstream or both, up to ``depth`` edges away.

    Args:
        ref: A REF (``data:raw@v1``, ``model:clf@staging``, ``run:<id>``... see :mod:`reprise.versioning.refs`).
        direction: ``up`` (what went into it), ``down`` (what came of it) or ``both``.
        depth: At most this many edges away (default: all).
        settings: Project settings (default: loaded from the working directory).

    Raises:
        LineageError: A malformed REF.
        NotFoundError: The REF names nothing lineage knows.
    """
    from reprise.store.db import open_store
    from reprise.store.lineage import edges_among, walk
    from reprise.store.reproductions import latest_reproductions

    settings = settings or load_settings()
    start = _known(settings, ref)
    engine = open_store(settings)
    nodes = [LineageNode(ref=start, kind=start.split(":", 1)[0], depth=0, direction="start")]
    sides: tuple[Direction, ...] = ("up", "down")
    for side in sides:
        if direction in (side, "both"):
            found = walk(engine, start, side, depth=depth)
            nodes += [LineageNode(ref=r.ref, kind=r.kind, depth=r.depth, direction=side) for r in found]
    latest = latest_reproductions(engine, [node.ref for node in nodes if node.kind in _VERIFIABLE])
    nodes = [
        node if node.ref not in latest else node.model_copy(update={"last_reproduction": _described(latest[node.ref])})
        for node in nodes
        if node.kind != "reproduction"
    ]
    edges = edges_among(engine, [node.ref for node in nodes])
    return LineageView(
        start=start,
        nodes=tuple(nodes),
        edges=tuple(LineageEdge(src=e.src, dst=e.dst, relation=e.relation) for e in edges),
    )


def impact(ref: str, *, environment: str | None = None, settings: Settings | None = None) -> Impact:
    """Which model versions, unified versions, releases and runs used ``ref``, and which releases run where now.

    Args:
        ref: A data version, pipeline version, fit, commit, run... (see :mod:`reprise.versioning.refs`).
        environment: List the deployed releases of this environment only (``production``).
        settings: Project settings (default: loaded from the working directory).

    Raises:
        LineageError: A malformed REF.
        NotFoundError: The REF names nothing lineage knows.
    """
    from reprise.store.db import open_store
    from reprise.store.lineage import walk
    from reprise.versioning.revocations import active_dependents

    settings = settings or load_settings()
    start = _known(settings, ref)
    engine = open_store(settings)
    by_kind: dict[str, list[str]] = {kind: [] for kind in (*_SHIPPED, "run")}
    found = walk(engine, start, "down", kinds=list(by_kind))
    for reached in found:
        if reached.kind in by_kind:
            by_kind[reached.kind].append(reached.ref)
    return Impact(
        start=start,
        models=tuple(sorted(by_kind["model"])),
        versions=tuple(sorted(by_kind["version"])),
        releases=tuple(sorted(by_kind["release"])),
        runs=tuple(sorted(by_kind["run"])),
        environment=environment,
        deployed=tuple(active_dependents(engine, by_kind["release"], environment)),
    )


def _known(settings: Settings, ref: str) -> str:
    from reprise.errors import NotFoundError
    from reprise.store.db import open_store
    from reprise.store.lineage import has_node
    from reprise.versioning.refs import GRAMMAR, resolve_ref

    start = resolve_ref(ref, settings=settings)
    if not has_node(open_store(settings), start):
        raise NotFoundError(f"lineage knows nothing of {start}", hint=f"check the name; REFs are {GRAMMAR}")
    return start


def _described(row: ReproductionRow) -> str:
    return f"{row.verdict} at {row.finished_at:%Y-%m-%d %H:%M} UTC (reproduction:{row.reproduction_id})"
