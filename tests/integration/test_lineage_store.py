"""Lineage in the metadata store, on SQLite and on the real PostgreSQL: walks both ways, cycles and bad REFs refused.

The graph below is drawn by hand so the expected nodes and shortest depths can be read off it::

    commit:c1 -> data:raw@v1 -> data:raw@v2 --------> run:r1 -> run:r2 -> model:clf/1 -> version:v1 -> release:svc@1.0.0
                      |                                 ^   \\                             ^
                      +--------> fit:f1 ----------------+    +----------------------------+
    pipeline:prep@1.0.0 -----------^
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from reprise.errors import LineageError
from reprise.store import db
from reprise.store.lineage import Direction, Edge, edges_among, link, walk
from reprise.store.tables import lineage_edges, lineage_nodes

DAG = [
    Edge("commit:c1", "data:raw@v1", "holds"),
    Edge("data:raw@v1", "data:raw@v2", "derived"),
    Edge("data:raw@v2", "run:r1", "used"),
    Edge("pipeline:prep@1.0.0", "fit:f1", "fitted"),
    Edge("data:raw@v1", "fit:f1", "used"),
    Edge("fit:f1", "run:r1", "used"),
    Edge("run:r1", "run:r2", "contains"),
    Edge("run:r2", "model:clf/1", "produced"),
    Edge("model:clf/1", "version:v1", "component"),
    Edge("run:r1", "version:v1", "component"),
    Edge("version:v1", "release:svc@1.0.0", "released"),
]


def _depths(engine: Engine, ref: str, direction: Direction, depth: int | None = None) -> dict[str, int]:
    found = walk(engine, ref, direction, depth=depth)
    assert all(r.kind == r.ref.split(":", 1)[0] for r in found)
    assert [r.depth for r in found] == sorted(r.depth for r in found), "nearest first"
    return {r.ref: r.depth for r in found}


def _counts(engine: Engine) -> tuple[int, int]:
    with db.reading(engine) as conn:
        nodes = conn.execute(select(func.count()).select_from(lineage_nodes)).scalar_one()
        edges = conn.execute(select(func.count()).select_from(lineage_edges)).scalar_one()
    return int(nodes), int(edges)


def test_walks_both_ways_give_each_node_at_its_shortest_depth(store_url: str) -> None:
    store = db.open_store(store_url)
    link(store, DAG)
    assert _depths(store, "data:raw@v1", "down") == {
        "data:raw@v2": 1,
        "fit:f1": 1,
        "run:r1": 2,
        "run:r2": 3,
        "version:v1": 3,  # through run:r1, not the longer way through the model
        "model:clf/1": 4,
        "release:svc@1.0.0": 4,
    }
    assert _depths(store, "data:raw@v1", "down", depth=2) == {"data:raw@v2": 1, "fit:f1": 1, "run:r1": 2}
    assert _depths(store, "release:svc@1.0.0", "up") == {
        "version:v1": 1,
        "model:clf/1": 2,
        "run:r1": 2,
        "run:r2": 3,
        "data:raw@v2": 3,
        "fit:f1": 3,
        "data:raw@v1": 4,
        "pipeline:prep@1.0.0": 4,
        "commit:c1": 5,
    }
    assert _depths(store, "release:svc@1.0.0", "up", depth=1) == {"version:v1": 1}
    assert _depths(store, "release:svc@1.0.0", "down") == {}
    assert _depths(store, "run:never-linked", "up") == {}


def test_edges_among_a_walks_nodes_are_the_edges_between_them(store_url: str) -> None:
    store = db.open_store(store_url)
    link(store, DAG)
    refs = ["run:r1", *(r.ref for r in walk(store, "run:r1", "down"))]
    assert sorted(refs) == ["model:clf/1", "release:svc@1.0.0", "run:r1", "run:r2", "version:v1"]
    expected = [
        Edge("model:clf/1", "version:v1", "component"),
        Edge("run:r1", "run:r2", "contains"),
        Edge("run:r1", "version:v1", "component"),
        Edge("run:r2", "model:clf/1", "produced"),
        Edge("version:v1", "release:svc@1.0.0", "released"),
    ]
    assert edges_among(store, refs) == expected  # fit:f1 -> run:r1 has one end outside: left out
    assert edges_among(store, []) == []


def test_an_edge_closing_a_cycle_is_refused_and_its_batch_writes_nothing(store_url: str) -> None:
    store = db.open_store(store_url)
    link(store, [Edge("run:a", "run:b", "contains"), Edge("run:b", "run:c", "contains")])
    before = _counts(store)
    with pytest.raises(LineageError, match="would make a cycle"):
        link(store, [Edge("run:c", "run:a", "contains")])
    with pytest.raises(LineageError, match="would make a cycle"):
        link(store, [Edge("run:c", "model:m/1", "produced"), Edge("run:c", "run:a", "contains")])
    assert _counts(store) == before
    assert _depths(store, "run:c", "down") == {}
    assert _depths(store, "run:a", "down") == {"run:b": 1, "run:c": 2}


def test_a_self_edge_and_malformed_refs_are_refused_and_write_nothing(store_url: str) -> None:
    store = db.open_store(store_url)
    with pytest.raises(LineageError, match="its own"):
        link(store, [Edge("run:a", "run:a", "contains")])
    for bad in ("nokind", "bogus:x", "run:", ":abc"):
        with pytest.raises(LineageError, match="not a lineage reference") as caught:
            link(store, [Edge("data:raw@v1", "run:ok", "used"), Edge(bad, "run:ok", "used")])
        assert caught.value.hint
    assert _counts(store) == (0, 0)


def test_relinking_an_edge_keeps_it_as_it_was(store_url: str) -> None:
    store = db.open_store(store_url)
    link(store, DAG[:3])
    before = _counts(store)
    link(store, [Edge("data:raw@v2", "run:r1", "reproduced")])
    link(store, DAG[:3])
    assert _counts(store) == before
    assert edges_among(store, ["data:raw@v2", "run:r1"]) == [Edge("data:raw@v2", "run:r1", "used")]
