"""Time of a full isolated reproduction of the quickstart's captured training run, step by step.

Writes the quickstart project (``reprise quickstart``), then runs ``reprise reproduce <train run id>`` (worktree at
the recorded commit with the recorded patch, data restored from the DVC cache by hash, fresh venv built by uv from the
recorded pins, re-run, compare) ``--repeat`` times. The first reproduction may fill Reprise's byte-code cache; the
next ones are what a warm uv cache and a warm byte-code cache give.

Target (issue 6): overhead beyond the re-run itself (total minus the run step) under 30 s with a warm uv cache.

    uv run python bench/bench_reproduce.py [--repeat 2] [--task classification]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STEPS = ("resolve", "worktree", "data", "environment", "run", "compare", "cleanup")


def _reprise(*args: str, cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "reprise", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr[-3000:])
    data: dict[str, Any] = json.loads(done.stdout[done.stdout.index("{\n") :])
    return data


def _train_run(root: Path) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / '.reprise' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(root.name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "attributes.run_name = 'train'")
    return str(runs[0].info.run_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--task", default="classification")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "quickstart"
        start = time.perf_counter()
        _reprise("quickstart", str(root), "--task", args.task, "--json", cwd=Path(tmp))
        print(f"quickstart ({args.task}): {time.perf_counter() - start:.1f} s; load average {os.getloadavg()[0]:.2f}")
        run_id = _train_run(root)
        for number in range(1, args.repeat + 1):
            start = time.perf_counter()
            result = _reprise("reproduce", run_id, "--json", "-q", cwd=root)
            wall = time.perf_counter() - start
            timings, env = result["timings"], result["environment"]
            original = result["original_seconds"] or float("nan")
            overhead = timings["total"] - timings["run"]
            headline = result["verdict"].replace("_", " ")
            causes = result["explanation"]["causes"]
            if causes and result["verdict"] != "identical":
                headline += f": {causes[0]['title']} ({'; '.join(causes[0]['evidence'][:1])})"
            print(f"reproduction {number}/{args.repeat} of the train run: {headline}")
            print("  " + ", ".join(f"{step} {timings[step]:.1f} s" for step in STEPS))
            print(
                f"  total {timings['total']:.1f} s (process wall {wall:.1f} s); original run {original:.1f} s; "
                f"ratio total/original {timings['total'] / original:.2f}"
            )
            rerun = timings["run"] / original
            print(f"  overhead beyond the re-run: {overhead:.1f} s (target < 30 s); re-run / original {rerun:.2f}")
            print(
                f"  venv: {env['pins']} pins ({'offline' if env['offline'] else 'online'}), byte code "
                f"{env['bytecode_cached']} linked from cache + {env['bytecode_borrowed']} borrowed; "
                f"load average {os.getloadavg()[0]:.2f}"
            )


if __name__ == "__main__":
    main()
