"""Team mode (issue 16): capture throughput through the team's server vs the embedded SQLite default, registry read
latency under that load, and reproductions per hour on 1 and 2 Dask workers.

A scratch PostgreSQL database is made on ``--postgres`` and ``reprise team serve``'s library starts a real MLflow
server on it (basic auth, proxied artifacts, ``--server-workers`` processes) on a free loopback port; both are gone
at the end. Two projects: one on the embedded default (SQLite under .reprise/), one pointed at the server
(``init --team``, logged in as an editor).

* runs/s: N client processes (1, 4, 8) each capture ``--runs`` runs with ``reprise.start_run`` (one metric, one
  param); each client times its own loop after one warm-up run, and the figure is all runs over the span from the
  first start to the last end;
* registry read p95: while the 8 clients capture, this process reads one registered model (``get_registered_model``)
  in a loop; p50/p95 of those reads;
* reproductions/hour: ``--reproductions`` captured runs of a seeded script re-verified in place by
  ``reprise.team.batch.verify_batch`` on a local Dask cluster of 1, then 2 worker processes.

    uv run python bench/bench_team.py [--runs 5] [--clients 1,4,8] [--reproductions 4] [--server-workers 4]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@b",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@b",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
}
_ADMIN_PASSWORD = "bench-Admin-pw-" + uuid.uuid4().hex[:8]
_EDITOR_PASSWORD = "bench-Editor-pw-" + uuid.uuid4().hex[:8]

CLIENT = """\
import json, sys, time
import reprise

def one(i):
    with reprise.start_run("bench", params={"i": i}) as run:
        run.log_metrics({"m": float(i)})

one(-1)
start = time.time()
for i in range(int(sys.argv[1])):
    one(i)
print(json.dumps({"start": start, "end": time.time()}))
"""

SEEDED = """\
import numpy as np
import reprise

with reprise.start_run("seeded", params={"n": 1000}) as run:
    run.log_metrics({"mean": float(np.random.default_rng(run.seeds.seed).normal(size=1000).mean())})
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(login: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPRISE_", "MLFLOW_"))}
    env.update(_ENV, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if login:
        env.update(MLFLOW_TRACKING_USERNAME="bench", MLFLOW_TRACKING_PASSWORD=_EDITOR_PASSWORD)
    return env


def _project(root: Path, team: object | None) -> Path:
    from reprise.project import TeamLink, init_project

    link = None if team is None else TeamLink(team.url, team.store_uri, team.dvc_remote)  # type: ignore[attr-defined]
    init_project(root, create_stores=True, team=link)
    (root / "client.py").write_text(CLIENT)
    (root / "seeded.py").write_text(SEEDED)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env={**os.environ, **_ENV})
    subprocess.run(["git", "commit", "-q", "-m", "bench"], cwd=root, check=True, env={**os.environ, **_ENV})
    return root


def _captures(root: Path, clients: int, runs: int, login: bool, reader: object | None) -> tuple[float, list[float]]:
    procs = [
        subprocess.Popen(
            ["python", "client.py", str(runs)], cwd=root, env=_env(login), stdout=subprocess.PIPE, text=True
        )
        for _ in range(clients)
    ]
    latencies: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=_read_loop, args=(reader, latencies, stop)) if reader is not None else None
    if thread is not None:
        thread.start()
    spans = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        assert proc.returncode == 0, f"a client failed in {root}"
        spans.append(json.loads(out.strip().splitlines()[-1]))
    stop.set()
    if thread is not None:
        thread.join()
    span = max(s["end"] for s in spans) - min(s["start"] for s in spans)
    return clients * runs / span, latencies


def _read_loop(reader: object, latencies: list[float], stop: threading.Event) -> None:
    client, name = reader  # type: ignore[misc]
    while not stop.is_set():
        started = time.perf_counter()
        client.get_registered_model(name)
        latencies.append(time.perf_counter() - started)
        time.sleep(0.05)


def _registry_reader(tracking_uri: str) -> tuple[object, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    name = f"bench-{uuid.uuid4().hex[:6]}"
    client.create_registered_model(name)
    return client, name


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) >= 2 else float("nan")


def _reproductions(root: Path, count: int) -> list[tuple[int, float]]:
    from mlflow import MlflowClient

    from reprise.config import load_settings
    from reprise.team.batch import verify_batch

    for _ in range(count):
        subprocess.run(["python", "seeded.py"], cwd=root, env=_env(True), check=True, capture_output=True)
    settings = load_settings(root)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    experiment = client.get_experiment_by_name("seeded")
    assert experiment is not None
    targets = [run.info.run_id for run in client.search_runs([experiment.experiment_id])]
    results = []
    for workers in (1, 2):
        report = verify_batch(targets, settings=settings, workers=workers, in_place=True)
        assert report.ok, report.summary
        results.append((workers, report.seconds))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--reproductions", type=int, default=4)
    parser.add_argument("--server-workers", type=int, default=4)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    import psycopg

    from reprise.team._http import Credentials
    from reprise.team.roles import add_member
    from reprise.team.server import TeamServerOptions, start_team_server

    os.environ.update(_ENV, MLFLOW_AUTH_ADMIN_PASSWORD=_ADMIN_PASSWORD)
    name = f"reprise_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    process = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-team-") as tmp:
            options = TeamServerOptions(
                db_uri=db, directory=Path(tmp) / "server", port=_free_port(), workers=args.server_workers
            )
            started = time.monotonic()
            process, team = start_team_server(options)
            print(f"server up in {time.monotonic() - started:.1f} s ({args.server_workers} workers) on {team.url}")
            add_member(team.url, Credentials("admin", _ADMIN_PASSWORD), "bench", _EDITOR_PASSWORD, "editor")
            embedded = _project(Path(tmp) / "embedded", None)
            shared = _project(Path(tmp) / "team", team)
            print(f"load average before: {os.getloadavg()}")
            print("| clients | embedded SQLite runs/s | team server runs/s | server / SQLite |")
            print("| --- | --- | --- | --- |")
            reads: dict[str, list[float]] = {}
            counts = [int(n) for n in args.clients.split(",")]
            for clients in counts:
                last = clients == max(counts)
                from reprise.config import load_settings

                readers = {}
                if last:
                    readers["sqlite"] = _registry_reader(load_settings(embedded).tracking_uri)
                    os.environ.update(MLFLOW_TRACKING_USERNAME="bench", MLFLOW_TRACKING_PASSWORD=_EDITOR_PASSWORD)
                    readers["server"] = _registry_reader(team.url)
                local, reads_local = _captures(embedded, clients, args.runs, False, readers.get("sqlite"))
                remote, reads_remote = _captures(shared, clients, args.runs, True, readers.get("server"))
                if last:
                    reads = {"sqlite": reads_local, "server": reads_remote}
                print(f"| {clients} | {local:.2f} | {remote:.2f} | {remote / local:.2f}x |")
            for label, values in reads.items():
                print(
                    f"registry read under {max(counts)} clients ({label}): n={len(values)} "
                    f"p50 {_p(values, 50):.1f} ms, p95 {_p(values, 95):.1f} ms"
                )
            print(f"load average after captures: {os.getloadavg()}")
            results = _reproductions(shared, args.reproductions)
            base = results[0][1]
            for workers, seconds in results:
                per_hour = args.reproductions / seconds * 3600
                print(
                    f"reproductions on {workers} Dask worker(s): {args.reproductions} in {seconds:.1f} s = "
                    f"{per_hour:.0f}/hour ({base / seconds:.2f}x of 1 worker)"
                )
            print(f"load average at the end: {os.getloadavg()}")
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
        from reprise.store.db import dispose_engines

        dispose_engines()
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
