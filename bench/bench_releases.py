"""Release history and deployed impact at scale (issue 13): 10,000 releases, 100,000 events, SQLite and PostgreSQL.

The store is filled with ``--names`` release names of ``--releases / --names`` versions each, every version with
``--events / --releases`` events (created, verified, promoted through dev, staging and production, and now and then
a rollback or a deprecation), hash-chained per name exactly as :func:`reprise.store.release_events.append_event_in`
chains them (so ``--verify-chain`` passes), the active release of each (name, environment), and lineage: each data
version feeds ``--fanout`` unified versions, each unified version one release (``data -> version -> release``). The
bulk is written straight into the tables in batches; ``--append`` more events go through the real
:func:`reprise.store.releases.record_release_event` (one transaction each), and that rate is reported.

Then, from a seeded sample: ``release_history(NAME)`` (the whole history of a name), ``release_history(NAME,
environment="production", at=T)`` ("what ran in production then") and ``impact("data:X", environment="production")``
(the releases deployed in production that depend on a data version), through the same library functions the CLI
calls, p50/p95 against the target (p95 < 100 ms), and ``verify_chain`` of one name for information.

Baseline, measured in the same run: a git-tag registry of ``--tags`` annotated tags in the format GTO writes
(``NAME@vX.Y.Z`` per release, ``NAME#ENV#N`` per promotion), in a real git repository; the history of one name is one
``git for-each-ref`` over all tags, filtered in Python (the cheapest way to read such a registry: one process, no
per-tag call). The 6-12 s the issue quotes for a git-tag registry tool over ~1,500 tags is not measured here.

    uv run python bench/bench_releases.py [--releases 10000] [--events 100000] [--names 200] [--samples 30]
        [--tags 1500] [--append 300] [--seed 0] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _scratch import scratch_postgres
from sqlalchemy import insert, text

from reprise.config import Settings
from reprise.store import db
from reprise.store.release_events import GENESIS, ReleaseEventRow, event_hash
from reprise.store.releases import record_release_event
from reprise.store.tables import (
    lineage_edges,
    lineage_nodes,
    release_environments,
    release_events,
    release_heads,
    releases,
)
from reprise.versioning.lineage import impact
from reprise.versioning.release_history import release_history

TARGET_MS = 100.0
ENVIRONMENTS = ("dev", "staging", "production")
SCRATCH = "reprise_bench_releases"
_BATCH = 5000
_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclasses.dataclass
class Load:
    """What was written, for picking query samples."""

    names: list[str]
    data: list[str]
    moments: list[datetime]
    events: int = 0
    releases: int = 0


def build_rows(args: argparse.Namespace) -> tuple[dict[str, list[dict[str, Any]]], Load]:
    """Every row of the synthetic store, by table."""
    rng = random.Random(args.seed)
    per_name = args.releases // args.names
    per_release = args.events // args.releases
    rows: dict[str, list[dict[str, Any]]] = {
        key: [] for key in ("releases", "events", "heads", "envs", "nodes", "edges")
    }
    load = Load(names=[f"model-{n:04d}" for n in range(args.names)], data=[], moments=[])
    clock = _START
    unified = 0
    data_name = ""
    for name in load.names:
        position, prev = 0, GENESIS
        active: dict[str, str] = {}
        for index in range(per_name):
            version = f"{index // 10}.{index % 10}.0"
            if unified % args.fanout == 0:
                data_name = f"d{unified // args.fanout:05d}@v1"
                load.data.append(data_name)
                rows["nodes"].append({"ref": f"data:{data_name}", "kind": "data", "created_at": clock})
            unified_name = f"u{unified:06d}"
            unified += 1
            release_ref = f"release:{name}@{version}"
            rows["nodes"] += [
                {"ref": f"version:{unified_name}", "kind": "version", "created_at": clock},
                {"ref": release_ref, "kind": "release", "created_at": clock},
            ]
            rows["edges"] += [
                {
                    "src": f"data:{data_name}",
                    "dst": f"version:{unified_name}",
                    "relation": "component",
                    "created_at": clock,
                },
                {"src": f"version:{unified_name}", "dst": release_ref, "relation": "component", "created_at": clock},
            ]
            rows["releases"].append(
                {
                    "name": name, "version": version, "build": "", "major": index // 10, "minor": index % 10,
                    "patch": 0, "prerelease": "", "unified_version": unified_name, "status": "released",
                    "components": [{"ref": f"data:{data_name}", "digest": "sha256:" + "0" * 64}], "notes": "",
                    "attestation_digest": None, "actor": "bench@host", "created_at": clock,
                }
            )  # fmt: skip
            kinds = ["created", "verified", *(["promoted"] * len(ENVIRONMENTS))]
            while len(kinds) < per_release:
                kinds.append(rng.choice(["verified", "rolled_back", "deprecated"]))
            place = 0
            for kind in kinds[:per_release]:
                clock += timedelta(seconds=rng.randint(1, 600))
                environment = None
                if kind == "promoted":
                    environment, place = ENVIRONMENTS[place], place + 1
                elif kind == "rolled_back":
                    environment = "production"
                position += 1
                event = ReleaseEventRow(
                    event_id=uuid.UUID(int=rng.getrandbits(128)).hex, name=name, version=version, kind=kind,
                    environment=environment, from_version=active.get(environment or ""), to_version=version
                    if environment else None, actor="bench@host", at=clock, reason="", forced=False, details={},
                    position=position, prev_hash=prev,
                )  # fmt: skip
                event = dataclasses.replace(event, hash=event_hash(event))
                prev = event.hash
                if environment is not None:
                    active[environment] = version
                rows["events"].append(dataclasses.asdict(event))
                load.moments.append(clock)
        rows["heads"].append({"name": name, "position": position, "hash": prev})
        rows["envs"] += [
            {"name": name, "environment": env, "version": version, "event_id": "-", "actor": "bench@host", "at": clock}
            for env, version in active.items()
        ]
    load.events, load.releases = len(rows["events"]), len(rows["releases"])
    return rows, load


def fill(url: str, rows: dict[str, list[dict[str, Any]]]) -> float:
    """Write the rows in batches (the schema made by the real migrations); seconds taken."""
    engine = db.open_store(url)
    started = time.perf_counter()
    tables = {
        "nodes": lineage_nodes, "edges": lineage_edges, "releases": releases, "events": release_events,
        "heads": release_heads, "envs": release_environments,
    }  # fmt: skip
    with db.writing(engine) as conn:
        for key, table in tables.items():
            for start in range(0, len(rows[key]), _BATCH):
                conn.execute(insert(table), rows[key][start : start + _BATCH])
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def timed(samples: list[Any], call: Callable[[Any], Any]) -> list[float]:
    """Milliseconds of ``call`` on each sample (after one warm-up call)."""
    call(samples[0])
    out = []
    for sample in samples:
        started = time.perf_counter()
        call(sample)
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def report(label: str, values: list[float], *, target: float | None = TARGET_MS) -> float:
    verdict = "" if target is None else ("  ok" if p95(values) < target else f"  MISSES {target:.0f} ms")
    print(f"  {label:<52} p50 {statistics.median(values):8.2f} ms   p95 {p95(values):8.2f} ms{verdict}")
    return p95(values)


def bench_store(
    label: str, url: str, rows: dict[str, list[dict[str, Any]]], load: Load, args: argparse.Namespace
) -> float:
    """Fill the store at ``url``, time the queries; the worst p95 of the targeted queries."""
    print(f"\n{label}: {load.releases:,} releases, {load.events:,} events, {len(load.data):,} data versions")
    print(f"  bulk load {fill(url, rows):.1f} s")
    settings = Settings(project_dir=Path.cwd(), tracking_uri="sqlite://", artifact_location="", store_uri=url)
    rng = random.Random(args.seed + 1)
    names = rng.sample(load.names, min(args.samples, len(load.names)))
    data = rng.sample(load.data, min(args.samples, len(load.data)))
    moments = rng.sample(load.moments, min(args.samples, len(load.moments)))
    whole = release_history(names[0], settings=settings)
    assert len(whole.events) == load.events // len(load.names), len(whole.events)
    worst = max(
        report("release history NAME (whole history)", timed(names, lambda n: release_history(n, settings=settings))),
        report(
            "release history NAME --env production --at T",
            timed(
                list(zip(names, moments, strict=False)),
                lambda s: release_history(s[0], environment="production", at=s[1], settings=settings),
            ),
        ),
        report(
            "lineage impact data:X --env production",
            timed(data, lambda d: impact(f"data:{d}", environment="production", settings=settings)),
        ),
    )
    deployed = impact(f"data:{data[0]}", environment="production", settings=settings)
    assert deployed.releases, deployed
    chain = release_history(names[0], verify_chain=True, settings=settings)
    assert chain.chain_problems == (), chain.chain_problems
    report(
        "release history NAME --verify-chain (information)",
        timed(names[:5], lambda n: release_history(n, verify_chain=True, settings=settings)),
        target=None,
    )
    engine = db.open_store(url)
    started = time.perf_counter()
    for index in range(args.append):
        name = names[index % len(names)]
        record_release_event(
            engine,
            ReleaseEventRow(
                event_id=uuid.uuid4().hex, name=name, version="0.0.0", kind="verified", environment=None,
                from_version=None, to_version=None, actor="bench@host", at=datetime.now(UTC), reason="",
                forced=False, details={},
            ),
        )  # fmt: skip
    seconds = time.perf_counter() - started
    print(f"  append through record_release_event: {args.append / seconds:,.0f} events/s ({args.append} events)")
    assert release_history(names[0], verify_chain=True, settings=settings).chain_problems == ()
    return worst


def git_tag_baseline(args: argparse.Namespace, root: Path) -> float:
    """p95 (ms) of one name's history read from a git-tag registry of ``args.tags`` annotated tags."""
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "README").write_text("x\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    names = [f"model-{n:03d}" for n in range(max(1, args.tags // 15))]
    tags: list[str] = []
    for name in names:
        for minor in range(5):
            tags.append(f"{name}@v1.{minor}.0")
            tags += [f"{name}#{env}#{minor + 1}" for env in ENVIRONMENTS]
    tags = tags[: args.tags]
    folder = root / ".tags"
    folder.mkdir()
    paths = []
    for index, tag in enumerate(tags):
        path = folder / f"{index}"
        path.write_text(
            f"object {head}\ntype commit\ntag {tag}\n"
            f"tagger bench <bench@example.invalid> {1767225600 + index} +0000\n\nRegistering {tag}\n"
        )
        paths.append(str(path))
    made = subprocess.run(
        [*git, "hash-object", "-t", "tag", "-w", "--stdin-paths"], input="\n".join(paths), capture_output=True,
        text=True, check=True,
    ).stdout.split()  # fmt: skip
    updates = "".join(f"create refs/tags/{tag} {sha}\n" for tag, sha in zip(tags, made, strict=True))
    subprocess.run([*git, "update-ref", "--stdin"], input=updates, text=True, check=True)

    def history(name: str) -> list[tuple[str, str, str]]:
        listed = subprocess.run(
            [*git, "for-each-ref", "--format=%(refname:short)|%(taggername)|%(taggerdate:iso)", "refs/tags"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        found = [tuple(line.split("|")) for line in listed.splitlines()]
        return [entry for entry in found if entry[0].startswith((f"{name}@", f"{name}#"))]  # type: ignore[misc]

    assert len(history(names[0])) == 20
    sample = random.Random(args.seed).sample(names, min(args.samples, len(names)))
    print(f"\ngit-tag registry baseline: {len(tags):,} annotated tags (NAME@vX.Y.Z, NAME#ENV#N), one name's history")
    return report("git for-each-ref refs/tags, filtered by name", timed(sample, history), target=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--names", type=int, default=200)
    parser.add_argument("--fanout", type=int, default=10, help="unified versions (and releases) per data version")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--tags", type=int, default=1500)
    parser.add_argument("--append", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    started = time.perf_counter()
    rows, load = build_rows(args)
    print(f"synthetic store built in memory in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory(prefix="reprise-bench-releases-") as scratch:
        baseline = git_tag_baseline(args, Path(scratch) / "tags")
        results: dict[str, float] = {}
        if args.only in (None, "sqlite"):
            results["SQLite"] = bench_store("SQLite", f"sqlite:///{scratch}/store.db", rows, load, args)
        if args.only in (None, "postgres"):
            with scratch_postgres(args.postgres, SCRATCH) as url:
                if url is not None:
                    results["PostgreSQL"] = bench_store("PostgreSQL", url, rows, load, args)
    print()
    for label, worst in results.items():
        verdict = "meets" if worst < TARGET_MS else "MISSES"
        print(
            f"{label}: worst p95 {worst:.1f} ms, {verdict} the {TARGET_MS:.0f} ms target; "
            f"{baseline / worst:.1f}x the git-tag baseline's p95 ({baseline:.1f} ms, measured above); "
            f"the issue's 6-12 s for a git-tag registry tool is {6000 / worst:,.0f}-{12000 / worst:,.0f}x "
            "(not measured)"
        )


if __name__ == "__main__":
    main()
