"""Concurrent first use (issue 18): N `reprise run` at once on a project whose stores do not exist yet.

A fresh project is made with ``init_project`` (git + DVC + reprise.toml, no stores: the state of a fresh clone, since
``.reprise/`` is git-ignored), then N processes run ``reprise run -- python -c pass`` at the same moment. Printed per
backend: processes, how many exited 0, how many runs the store holds afterwards, whether a later command still works,
and the wall time of the concurrent batch. The PostgreSQL row uses a new, uniquely named database on
``--postgres`` (tracking and metadata store both), dropped at the end; it is skipped when no server answers.

    uv run python bench/bench_concurrency.py [-n 8] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

To measure another checkout with the same venv: ``PYTHONPATH=/tmp/before/src uv run python bench/bench_concurrency.py``
(the children inherit PYTHONPATH).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
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


def _project(root: Path, uri: str | None) -> Path:
    from reprise.project import init_project

    init_project(root)
    if uri is not None:
        with (root / "reprise.toml").open("a", encoding="utf-8") as config:
            config.write(f'tracking_uri = "{uri}"\nstore_uri = "{uri}"\n')
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env={**os.environ, **_ENV})
    subprocess.run(["git", "commit", "-qm", "init"], cwd=root, check=True, env={**os.environ, **_ENV})
    return root


def _reprise(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPRISE_", "MLFLOW_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "reprise", *args],
        cwd=root,
        env={**env, **_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _runs_in_store(root: Path) -> str:
    from mlflow import MlflowClient

    from reprise.config import load_settings

    settings = load_settings(root, environ={})
    try:
        client = MlflowClient(tracking_uri=settings.tracking_uri)
        experiment = client.get_experiment_by_name(settings.experiment)
        if experiment is None:
            return "0"
        return str(len(client.search_runs([experiment.experiment_id], max_results=1000)))
    except Exception as exc:  # the bench reports a broken store; it does not stop on one
        return f"store unreadable ({type(exc).__name__})"


def bench(root: Path, label: str, uri: str | None, n: int) -> None:
    _project(root, uri)
    start = time.perf_counter()
    procs = [_reprise(root, "run", "--", sys.executable, "-c", "pass") for _ in range(n)]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    wall = time.perf_counter() - start
    ok = sum(1 for proc in procs if proc.returncode == 0)
    tracebacks = sum(1 for _, err in outputs if "Traceback" in err)
    runs = _runs_in_store(root)
    later = _reprise(root, "run", "--", sys.executable, "-c", "pass")
    later_out = later.communicate(timeout=300)
    print(
        f"{label}: processes {n}, exit 0: {ok}/{n}, with a traceback: {tracebacks}, runs in store: "
        f"{runs}, later command exit {later.returncode}, wall {wall:.1f} s",
        flush=True,
    )
    for proc, (_, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            print(f"  first failure (exit {proc.returncode}): {err.strip().splitlines()[-1] if err.strip() else ''}")
            break
    if later.returncode != 0:
        print(f"  later command: {later_out[1].strip().splitlines()[-1] if later_out[1].strip() else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=8, help="concurrent processes")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    import reprise

    print(f"reprise from {Path(reprise.__file__).parent}, cpus {os.cpu_count()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
        bench(Path(tmp) / "sqlite", "SQLite", None, args.n)
        try:
            import psycopg

            admin = psycopg.connect(args.postgres, autocommit=True, connect_timeout=3)
        except Exception as exc:  # no server: the row is skipped, said so
            print(f"PostgreSQL: skipped ({exc})")
            return
        name = f"reprise_bench_{uuid.uuid4().hex[:10]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            bench(Path(tmp) / "postgres", "PostgreSQL", args.postgres.rsplit("/", 1)[0] + f"/{name}", args.n)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


if __name__ == "__main__":
    main()
