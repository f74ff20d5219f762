"""Capture overhead: `reprise.start_run` vs bare `mlflow.start_run`; `reprise env capture` vs `pip freeze`.

Targets (issue 2): capture adds under 150 ms to a run; ``reprise env capture`` is faster than ``pip freeze`` alone.
Both sides of each ratio are measured in this same run, on the same store and the same interpreter.

    uv run python bench/bench_capture.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _project(root: Path) -> Path:
    from reprise.project import init_project

    init_project(root)
    (root / "train.py").write_text("print('hello')\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=root, check=True, env={**os.environ, **_GIT})
    (root / "train.py").write_text("print('dirty')\n")  # a dirty tree: the patch is part of the cost
    (root / "data.csv").write_text("a,b\n" + "1,2\n" * 10_000)
    return root


_GIT = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}


def bench_start_run(root: Path, repeat: int) -> tuple[float, float]:
    import mlflow

    import reprise
    from reprise.config import load_settings
    from reprise.tracking._client import ensure_experiment

    os.chdir(root)
    settings = load_settings(root)
    mlflow.set_tracking_uri(settings.tracking_uri)
    experiment_id = ensure_experiment(settings, settings.experiment)

    def bare() -> None:
        with mlflow.start_run(experiment_id=experiment_id):
            pass

    def captured() -> None:
        with reprise.start_run(inputs=["data.csv"], settings=settings):
            pass

    bare(), captured()  # warm both paths: imports, engine, experiment
    return _median_ms(bare, repeat), _median_ms(captured, repeat)


def bench_env_capture(root: Path, repeat: int) -> tuple[float, float]:
    out = Path(tempfile.mkdtemp())
    reprise_cmd = [sys.executable, "-m", "reprise", "-C", str(root), "env", "capture", "--output-dir", str(out)]
    freeze_cmd = [sys.executable, "-m", "pip", "freeze"]
    for cmd in (reprise_cmd, freeze_cmd):
        subprocess.run(cmd, check=True, capture_output=True)  # warm the page cache

    def run(cmd: list[str]) -> Callable[[], object]:
        return lambda: subprocess.run(cmd, check=True, capture_output=True)

    return _median_ms(run(freeze_cmd), repeat), _median_ms(run(reprise_cmd), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with tempfile.TemporaryDirectory() as tmp:
        root = _project(Path(tmp) / "bench-project")
        freeze, capture = bench_env_capture(root, args.repeat)
        bare, captured = bench_start_run(root, args.repeat)
    print(f"start_run, median of {args.repeat}: bare mlflow {bare:.1f} ms, reprise {captured:.1f} ms")
    print(f"  capture overhead: {captured - bare:.1f} ms (target < 150 ms); ratio reprise/bare = {captured / bare:.2f}")
    print(f"env capture, median of {args.repeat}: pip freeze {freeze:.1f} ms, reprise env capture {capture:.1f} ms")
    print(f"  ratio reprise/pip-freeze = {capture / freeze:.2f} (target < 1.00)")


if __name__ == "__main__":
    main()
