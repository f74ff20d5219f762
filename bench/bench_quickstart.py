"""Wall time of ``reprise quickstart`` (whole and per stage) and Reprise's capture overhead as a share of it.

Capture overhead is what ``reprise run`` adds over the wrapper a user would write with MLflow alone (open a run,
run the stage command with ``MLFLOW_RUN_ID`` set, close the run), measured on the finished project around a no-op
command, times the five captured runs of the pipeline (the parent and four stages).

Targets (issue 4): the whole quickstart under 90 s on this 2-core machine; capture under 5 % of it.

    uv run python bench/bench_quickstart.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_BARE_WRAPPER = """
import os, subprocess, sys
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment(sys.argv[2])
with mlflow.start_run() as run:
    code = subprocess.call(sys.argv[3:], env={**os.environ, "MLFLOW_RUN_ID": run.info.run_id})
"""


def _median_s(argv: list[str], cwd: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "quickstart"
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "reprise", "quickstart", str(root), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        total = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        summary = json.loads(done.stdout)
        noop = [sys.executable, "-c", "pass"]
        captured = _median_s([sys.executable, "-m", "reprise", "run", "--", *noop], root, args.repeat)
        uri = f"sqlite:///{root / '.reprise' / 'mlflow.db'}"
        bare = _median_s([sys.executable, "-c", _BARE_WRAPPER, uri, "quickstart", *noop], root, args.repeat)
    print(f"quickstart total: {total:.1f} s (target < 90 s)")
    for stage in summary["stages"]:
        print(f"  stage {stage['name']:>9}: {stage['seconds']:.1f} s")
    overhead = captured - bare  # signed: Reprise can come out faster than a naive fluent-API wrapper
    runs = len(summary["stages"]) + 1
    print(f"per captured run, median of {args.repeat}: reprise run {captured:.2f} s, bare MLflow wrapper {bare:.2f} s")
    print(f"  capture overhead {overhead:+.2f} s x {runs} runs = {overhead * runs:+.1f} s")
    print(f"  share of the quickstart: {100 * overhead * runs / total:+.1f} % (target < 5 %)")


if __name__ == "__main__":
    main()
