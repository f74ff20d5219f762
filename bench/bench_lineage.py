"""Lineage queries at scale (issue 12): impact and ancestry on a 100,000-edge graph, SQLite and PostgreSQL.

The graph is synthetic and shaped like real use, one "project" after another until the edge count is reached:

* a chain of raw data versions per project (``data:pN-raw@v1 -> @v2 -> ...``, 30-60 long), each held by its commit
  (``commit -> data``) and each deriving a features version (``raw@vK -> features@vK``, also held by the commit);
* a pipeline version per ten data versions, fitted once per features version (``pipeline -> fit``, ``data -> fit``);
* 4-12 captured runs per features version (``commit -> run``, ``data -> run``, ``fit -> run``), each containing 0-6
  nested candidate runs (``run -> run``, ``contains``);
* about 40 % of the runs register a model version from their best candidate (``run -> model``); half of those make
  a unified version (``run``, ``data``, ``fit``, ``model``, ``commit`` ``-> version``), half of those a release
  (``version -> release``); some model versions are reproduced (``model -> reproduction``).

The bulk of the edges is written straight into the two tables in batches (the graph is known to be acyclic); the
last ``--link`` edges go through the real :func:`reprise.store.lineage.link` (half one edge per call, as capture and
registration write, half in calls of 500), and that rate is reported on its own, with the cost of the cycle check
for an edge into the top of a long chain (its whole downstream is walked). Then, from a seeded sample of start nodes
of each kind: impact (``walk(..., "down")`` kept to model, version and release nodes) and ancestry
(``walk(..., "up")``), each answer checked against a breadth-first search over the same edges in memory (same nodes,
same shortest depth), with p50/p95 per query type against the target (p95 < 50 ms), the in-memory BFS of the same
starts (same run), and the anchors the issue quotes (not measured here: a git-tag registry takes 6-12 s on ~1,500
tags, a popular lineage server's lineage endpoint 10-15 s). The CPU time of each query (this process, plus the
PostgreSQL server process serving it) is given too: on a shared machine it is the part other work cannot inflate.

Two variants of ``walk``'s statement are measured beside it, interleaved, same checks (see :data:`WALKERS`): A drops
the join to the nodes table (a node's kind is its REF's prefix), B is A with the impact kinds kept in SQL.

PostgreSQL: a scratch database ``reprise_bench_lineage`` on ``--postgres`` (made, ``ANALYZE``d after the load, as
autovacuum would, and dropped at the end; ``--no-analyze`` keeps the planner without statistics, as on a server with
autovacuum off); skipped with a message when no server answers.

    uv run python bench/bench_lineage.py [--edges 100000] [--samples 25] [--repeat 3] [--link 4000] [--seed 0]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--only sqlite|postgres] [--no-analyze] [--explain]

``--explain`` prints the query plan (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE) of the slowest query type on each backend;
it is printed anyway when a query type misses the target.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import statistics
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _scratch import scratch_postgres
from sqlalchemy import Engine, event, text

from reprise.store import db
from reprise.store.lineage import KINDS, Edge, Reached, kind_of, link, walk
from reprise.store.tables import lineage_edges, lineage_nodes

TARGET_MS = 50.0
ANCHORS = (("git-tag registry, ~1,500 tags", 6.0, 12.0), ("lineage server endpoint", 10.0, 15.0))
IMPACT_KINDS = frozenset({"model", "version", "release"})
SCRATCH = "reprise_bench_lineage"
_BATCH = 5000

Triple = tuple[str, str, str]


def _hex(*parts: object, size: int = 32) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()[:size]


def synthetic_graph(edges: int, seed: int) -> list[Triple]:
    """``edges`` (src, dst, relation) triples, upstream first (each project's edges in the order they happen)."""
    rng = random.Random(seed)
    out: list[Triple] = []
    project = 0
    while len(out) < edges:
        _project(project, rng, out)
        project += 1
    return out[:edges]


def _project(p: int, rng: random.Random, out: list[Triple]) -> None:
    models = versions = releases = 0
    previous_raw = None
    for v in range(1, rng.randint(30, 60) + 1):
        commit = f"commit:{_hex('c', p, v, size=40)}"
        raw, features = f"data:p{p}-raw@v{v}", f"data:p{p}-features@v{v}"
        pipeline, fit = f"pipeline:p{p}-prep@1.{v // 10}.0", f"fit:{_hex('f', p, v)}"
        out += [(commit, raw, "holds"), (raw, features, "derived"), (commit, features, "holds")]
        if previous_raw is not None:
            out.append((previous_raw, raw, "derived"))
        previous_raw = raw
        out += [(pipeline, fit, "fitted"), (features, fit, "used")]
        for r in range(rng.randint(4, 12)):
            run = f"run:{_hex('r', p, v, r)}"
            out += [(commit, run, "captured"), (features, run, "used"), (fit, run, "used")]
            children = [f"run:{_hex('n', p, v, r, c)}" for c in range(rng.randint(0, 6))]
            out += [(run, child, "contains") for child in children]
            if rng.random() >= 0.4:
                continue
            models += 1
            model = f"model:p{p}-clf/{models}"
            out.append((rng.choice(children) if children else run, model, "produced"))
            if rng.random() < 0.3:
                out.append((model, f"reproduction:{_hex('x', p, models)}", "reproduced"))
            if rng.random() >= 0.5:
                continue
            versions += 1
            version = f"version:p{p}-v{versions}"
            out += [(src, version, "component") for src in (run, features, fit, model, commit)]
            if rng.random() < 0.5:
                releases += 1
                out.append((version, f"release:p{p}-svc@1.{releases}.0", "released"))


def bulk_load(engine: Engine, triples: list[Triple]) -> None:
    """Nodes then edges, straight into the tables in batches of 5,000 (one transaction)."""
    now = datetime.now(UTC)
    refs = list(dict.fromkeys(ref for src, dst, _ in triples for ref in (src, dst)))
    with db.writing(engine) as conn:
        for start in range(0, len(refs), _BATCH):
            rows = [{"ref": r, "kind": kind_of(r), "created_at": now} for r in refs[start : start + _BATCH]]
            conn.execute(lineage_nodes.insert(), rows)
        for start in range(0, len(triples), _BATCH):
            part = triples[start : start + _BATCH]
            conn.execute(
                lineage_edges.insert(), [{"src": s, "dst": d, "relation": r, "created_at": now} for s, d, r in part]
            )


@dataclass
class LinkFigures:
    single: int
    single_s: float
    batched: int
    batched_s: float
    cycle_checks_ms: list[float]

    def line(self, when: str, downstream: int) -> str:
        out = [
            f"link() {when}: {self.single:,} edges one per call in {self.single_s:.2f} s "
            f"({self.single / self.single_s:,.0f} edges/s, {self.single_s * 1000 / self.single:.2f} ms each)"
        ]
        if self.batched:
            out.append(
                f"{self.batched:,} in calls of 500 in {self.batched_s:.2f} s "
                f"({self.batched / self.batched_s:,.0f} edges/s)"
            )
        checks = ", ".join(f"{ms:.1f}" for ms in self.cycle_checks_ms)
        out.append(
            f"an edge into the top of a chain (its cycle check walks the {downstream:,} nodes below): {checks} ms"
        )
        return "; ".join(out)


def link_edges(engine: Engine, triples: list[Triple], late: list[Triple], *, batched: bool) -> LinkFigures:
    """``triples`` through the real ``link`` (one per call, or half of them in calls of 500), then each ``late``."""
    edges = [Edge(s, d, r) for s, d, r in triples]
    half = len(edges) // 2 if batched else len(edges)
    start = time.perf_counter()
    for edge in edges[:half]:
        link(engine, [edge])
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    for at in range(half, len(edges), 500):
        link(engine, edges[at : at + 500])
    batched_s = time.perf_counter() - start
    checks = []
    for src, dst, relation in late:
        t0 = time.perf_counter()
        link(engine, [Edge(src, dst, relation)])
        checks.append((time.perf_counter() - t0) * 1000)
    return LinkFigures(half, single_s, len(edges) - half, batched_s, checks)


#: Where the late edges point: the first raw version of project 0, whose downstream is its whole project.
CHAIN_TOP = "data:p0-raw@v1"


def late_edges(count: int) -> list[Triple]:
    """New commits holding :data:`CHAIN_TOP`: the worst case for the cycle check of ``link``."""
    return [(f"commit:{_hex('late', i, size=40)}", CHAIN_TOP, "holds") for i in range(count)]


def bfs(adjacency: dict[str, list[str]], start: str, depth: int | None) -> dict[str, int]:
    """Every node reachable from ``start`` (not itself) and its shortest distance, at most ``depth`` away."""
    seen = {start: 0}
    queue = deque([start])
    while queue:
        ref = queue.popleft()
        d = seen[ref]
        if depth is not None and d >= depth:
            continue
        for nxt in adjacency.get(ref, ()):
            if nxt not in seen:
                seen[nxt] = d + 1
                queue.append(nxt)
    del seen[start]
    return seen


@dataclass(frozen=True)
class QueryType:
    label: str
    direction: str
    kind: str
    depth: int | None = None

    @property
    def impact(self) -> bool:
        return self.direction == "down" and self.depth is None


QUERY_TYPES = (
    *(QueryType(f"impact from {k}", "down", k) for k in ("commit", "data", "pipeline", "fit", "run")),
    *(QueryType(f"ancestry of {k}", "up", k) for k in ("data", "run", "model", "version", "release")),
    QueryType("down from data, depth 3", "down", "data", 3),
    QueryType("up from model, depth 2", "up", "model", 2),
)


Walker = Callable[[Engine, str, QueryType], list[Reached]]


def current_walk(engine: Engine, ref: str, qt: QueryType) -> list[Reached]:
    """The store's own ``walk``; impact keeps model, version and release nodes (in Python, as a caller would)."""
    found = walk(engine, ref, qt.direction, depth=qt.depth)  # type: ignore[arg-type]
    return [r for r in found if r.kind in IMPACT_KINDS] if qt.impact else found


def _variant(*, kinds_in_sql: bool) -> Walker:
    """``walk``'s CTE unchanged, without the join to the nodes table (a node's kind is its REF's prefix).

    With ``kinds_in_sql`` an impact query also keeps only model, version and release nodes in SQL, so the other
    reached nodes never leave the database.
    """

    def variant(engine: Engine, ref: str, qt: QueryType) -> list[Reached]:
        near, far = ("dst", "src") if qt.direction == "up" else ("src", "dst")
        where = ""
        if kinds_in_sql and qt.impact:
            where = "WHERE " + " OR ".join(f"ref LIKE '{k}:%'" for k in sorted(IMPACT_KINDS))
        query = text(
            f"""
            WITH RECURSIVE reached(ref, depth) AS (
                SELECT e.{far}, 1 FROM reprise_lineage_edges e WHERE e.{near} = :start
                UNION
                SELECT e.{far}, r.depth + 1 FROM reprise_lineage_edges e JOIN reached r ON e.{near} = r.ref
                WHERE r.depth < :limit
            )
            SELECT ref, MIN(depth) AS depth FROM reached {where} GROUP BY ref ORDER BY depth, ref
            """
        )
        with db.reading(engine) as conn:
            rows = conn.execute(query, {"start": ref, "limit": qt.depth or 1000}).all()
        found = [Reached(ref=str(r[0]), kind=kind_of(str(r[0])), depth=int(r[1])) for r in rows]
        return [r for r in found if r.kind in IMPACT_KINDS] if qt.impact else found

    return variant


WALKERS: dict[str, Walker] = {
    "walk() as it is": current_walk,
    "variant A: no join to the nodes table": _variant(kinds_in_sql=False),
    "variant B: A + impact kinds kept in SQL": _variant(kinds_in_sql=True),
}


@dataclass
class Measured:
    qtype: QueryType
    starts: list[str]
    walk_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    bfs_ms: list[float] = field(default_factory=list)
    answer_sizes: list[int] = field(default_factory=list)
    reached_sizes: list[int] = field(default_factory=list)


Graph = tuple[dict[str, list[str]], dict[str, list[str]]]


def cpu_clock(engine: Engine) -> Callable[[], float]:
    """Seconds of CPU this process, and on PostgreSQL the server process serving the pool's connection, have used.

    Waiting for a core on a loaded machine is not counted, so this is the work a query costs wherever it runs. The
    server side comes from ``/proc/<pid>/schedstat`` (the server runs on this machine); the pool keeps one
    connection, since one query runs at a time.
    """
    if engine.dialect.name != "postgresql":
        return time.process_time
    with db.reading(engine) as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    schedstat = Path(f"/proc/{pid}/schedstat")

    def clock() -> float:
        return time.process_time() + int(schedstat.read_text().split()[0]) / 1e9

    return clock


def measure(engine: Engine, graph: Graph, starts: dict[str, list[str]], repeat: int) -> dict[str, list[Measured]]:
    """Each query type from its sampled starts, ``repeat`` times, by every walker in turn (so they share the load of
    the moment), each answer checked against the BFS."""
    down, up = graph
    clock = cpu_clock(engine)
    results: dict[str, list[Measured]] = {name: [] for name in WALKERS}
    for qt in QUERY_TYPES:
        adjacency = down if qt.direction == "down" else up
        ms = {name: Measured(qt, starts[qt.kind]) for name in WALKERS}
        for ref in starts[qt.kind]:
            for _ in range(repeat):
                t0 = time.perf_counter()
                reached = bfs(adjacency, ref, qt.depth)
                expected = {r: d for r, d in reached.items() if kind_of(r) in IMPACT_KINDS} if qt.impact else reached
                bfs_ms = (time.perf_counter() - t0) * 1000
                for name, walker in WALKERS.items():
                    m = ms[name]
                    m.bfs_ms.append(bfs_ms)
                    t0, c0 = time.perf_counter(), clock()
                    found = walker(engine, ref, qt)
                    m.walk_ms.append((time.perf_counter() - t0) * 1000)
                    m.cpu_ms.append((clock() - c0) * 1000)
                    got = {r.ref: r.depth for r in found}
                    if got != expected or any(r.kind != kind_of(r.ref) for r in found):
                        missing = sorted(set(expected) - set(got))[:3]
                        extra = sorted(set(got) - set(expected))[:3]
                        raise SystemExit(f"WRONG ANSWER, {name}, {qt.label} {ref}: missing {missing}, extra {extra}")
            for m in ms.values():
                m.answer_sizes.append(len(expected))
                m.reached_sizes.append(len(reached))
        for name, m in ms.items():
            results[name].append(m)
    return results


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def report(backend: str, by_walker: dict[str, list[Measured]]) -> dict[str, list[str]]:
    """Print one table for a backend (every walker side by side); return the query types each walker missed.

    Each cell also gives the p95 of the CPU time the query took (see :func:`cpu_clock`), which the other work on a
    shared machine does not inflate.
    """
    names = list(by_walker)
    first = by_walker[names[0]]
    print(f"\n{backend}: latency in ms, p50 / p95 (CPU p95); every answer checked against the in-memory BFS")
    heads = " | ".join(f"{name}" for name in names)
    print(f"| query | starts x repeat | answer, median / max | nodes reached, median / max | BFS p50 | {heads} |")
    print("| --- | ---: | ---: | ---: | ---: |" + " ---: |" * len(names))
    missed: dict[str, list[str]] = {name: [] for name in names}
    for i, m in enumerate(first):
        cells = []
        for name in names:
            w = by_walker[name][i]
            p50, p95 = _pct(w.walk_ms, 50), _pct(w.walk_ms, 95)
            if p95 >= TARGET_MS:
                missed[name].append(m.qtype.label)
            cpu95 = f" ({_pct(w.cpu_ms, 95):.2f})"
            cells.append(f"{p50:.2f} / {p95:.2f}{cpu95}{'' if p95 < TARGET_MS else ' MISSED'}")
        repeat = len(m.walk_ms) // max(len(m.starts), 1)
        answer = f"{statistics.median(m.answer_sizes):.0f} / {max(m.answer_sizes)}"
        reached = f"{statistics.median(m.reached_sizes):.0f} / {max(m.reached_sizes)}"
        print(
            f"| {m.qtype.label} | {len(m.starts)} x {repeat} | {answer} | {reached} | {_pct(m.bfs_ms, 50):.3f} | "
            + " | ".join(cells)
            + " |"
        )
    every_bfs = [ms for m in first for ms in m.bfs_ms]
    for name in names:
        every = [ms for m in by_walker[name] for ms in m.walk_ms]
        p50, p95 = _pct(every, 50), _pct(every, 95)
        cpu95 = f" (CPU p95 {_pct([ms for m in by_walker[name] for ms in m.cpu_ms], 95):.2f} ms)"
        anchors = ", ".join(
            f"{low * 1000 / p95:,.0f}x faster than the {what} ({low:.0f}-{high:.0f} s)" for what, low, high in ANCHORS
        )
        print(
            f"- {name}: all {len(every)} queries p50 {p50:.2f} ms, p95 {p95:.2f} ms{cpu95}, max {max(every):.2f} ms; "
            f"{p50 / _pct(every_bfs, 50):.0f}x the in-memory BFS at p50 ({_pct(every_bfs, 50):.3f} ms); "
            f"at p95 {anchors}; target p95 < {TARGET_MS:.0f} ms missed by {len(missed[name])} of {len(first)} types"
        )
    return missed


def explain(engine: Engine, walker: Walker, qtype: QueryType, ref: str) -> None:
    """The plan of the walker's own statement (captured as it runs), by the backend's EXPLAIN."""
    captured: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "RECURSIVE" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        walker(engine, ref, qtype)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
    statement, parameters = captured[0]
    with db.reading(engine) as conn:
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    print("```")
    for row in rows:
        print("   ", " | ".join(str(c) for c in row) if sqlite else row[0])
    print("```")


def run_backend(name: str, uri: str, triples: list[Triple], args: argparse.Namespace, *, analyze: bool | None) -> None:
    """Load, link, query and report on one backend; ``analyze``: None for SQLite, else whether to ANALYZE."""
    engine = db.open_store(uri)
    bulk, linked = triples[: len(triples) - args.link], triples[len(triples) - args.link :]
    late = late_edges(6)
    down: dict[str, list[str]] = defaultdict(list)
    up: dict[str, list[str]] = defaultdict(list)
    for src, dst, _ in triples + late:
        down[src].append(dst)
        up[dst].append(src)
    below = len(bfs(down, CHAIN_TOP, None))
    print(f"\n## {name} ({db.redacted(uri)})")
    t0 = time.perf_counter()
    bulk_load(engine, bulk)
    load_s = time.perf_counter() - t0
    print(
        f"- bulk load: {len(bulk):,} edges in {load_s:.1f} s ({len(bulk) / load_s:,.0f} edges/s, batches of {_BATCH})"
    )
    if analyze is None:
        print("- " + link_edges(engine, linked, late, batched=True).line("(SQLite is never ANALYZEd)", below))
    else:
        first = min(100, len(linked) // 10)
        figures = link_edges(engine, linked[:first], late[:2], batched=False)
        print("- " + figures.line("right after the bulk load, no planner statistics yet", below))
        if analyze:
            with db.writing(engine) as conn:
                conn.execute(text("ANALYZE reprise_lineage_nodes"))
                conn.execute(text("ANALYZE reprise_lineage_edges"))
        when = "after ANALYZE" if analyze else "still without statistics (--no-analyze)"
        print("- " + link_edges(engine, linked[first:], late[2:], batched=True).line(when, below))
    rng = random.Random(args.seed)
    by_kind: dict[str, list[str]] = defaultdict(list)
    for ref in sorted(set(down) | set(up)):
        by_kind[kind_of(ref)].append(ref)
    starts = {k: rng.sample(refs, min(args.samples, len(refs))) for k, refs in sorted(by_kind.items())}
    few = {k: v[:3] for k, v in starts.items()}
    measure(engine, (down, up), few, 1)  # warm the caches
    by_walker = measure(engine, (down, up), starts, args.repeat)
    missed = report(name, by_walker)
    if any(missed.values()) or args.explain:
        results = by_walker[next(iter(WALKERS))]
        worst = max(results, key=lambda m: _pct(m.walk_ms, 95))
        biggest = worst.starts[max(range(len(worst.starts)), key=lambda i: worst.reached_sizes[i])]
        for label, walker in WALKERS.items():
            print(f"\nplan of {worst.qtype.label} from {biggest}, {label} ({name}):")
            explain(engine, walker, worst.qtype, biggest)
    db.dispose_engines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=25, help="start nodes per kind")
    parser.add_argument("--repeat", type=int, default=3, help="times each start is queried")
    parser.add_argument("--link", type=int, default=4000, help="edges written through link() instead of the bulk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--no-analyze", action="store_true", help="PostgreSQL: never ANALYZE (autovacuum off)")
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="run one backend")
    args = parser.parse_args()

    triples = synthetic_graph(args.edges, args.seed)
    kinds: dict[str, int] = defaultdict(int)
    for ref in {r for s, d, _ in triples for r in (s, d)}:
        kinds[kind_of(ref)] += 1
    chain = max(int(d.rsplit("@v", 1)[1]) for _, d, rel in triples if rel == "derived" and "-raw@" in d)
    per_kind = ", ".join(f"{k} {kinds[k]:,}" for k in KINDS if kinds[k])
    print(f"graph: {len(triples):,} edges, {sum(kinds.values()):,} nodes ({per_kind})")
    print(f"longest data chain: {chain} versions; seed {args.seed}; load average {os.getloadavg()[0]:.1f}")

    if args.only != "postgres":
        with tempfile.TemporaryDirectory() as tmp:
            run_backend("SQLite", f"sqlite:///{Path(tmp) / 'reprise.db'}", triples, args, analyze=None)
    with scratch_postgres(args.postgres, SCRATCH) if args.only != "sqlite" else contextlib.nullcontext() as uri:
        if uri is not None:
            run_backend("PostgreSQL", uri, triples, args, analyze=not args.no_analyze)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
