"""Benchmark the table content digest (reprise-table-v1) against ``pandas.read_csv`` of the same file (issue 14).

Generates a CSV of 1,000,000 rows and 12 columns (4 integer, 5 float, 3 string columns: two categorical, one of
near-unique codes) in a temp dir, then measures, in turns so both see the same (shared) machine:

* ``pandas.read_csv(path)``: the baseline, the cost of reading the table once;
* ``table_identity(path)``: content, ordered and layout digests, streaming.

Both wall time (the target) and CPU time (all threads of the child) are reported, with their ratios and the load
average before and after: on a shared machine the wall time depends on what else runs, and a multi-threaded digest
only gains from its threads when cores are free.

Each measurement runs in a fresh child process (imports excluded from the time: pandas, and numpy/pyarrow for
Reprise), so the peak resident memory of each (``ru_maxrss`` of the child) is reported alongside. Target: digest
time / read_csv time <= 1.5.

Usage: ``.venv/bin/python bench/bench_identity.py [--rows 1000000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from pathlib import Path
kind, path = sys.argv[1], Path(sys.argv[2])
if kind == "pandas":
    import pandas
    call = lambda: pandas.read_csv(path)
else:
    import numpy, pyarrow.compute, pyarrow.csv, pyarrow.parquet  # imported lazily by Reprise: not part of a read
    from reprise.data.identity import table_identity
    call = lambda: table_identity(path)
started, cpu_started = time.perf_counter(), time.process_time()
call()
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mib": peak}))
"""


def generate(path: Path, rows: int) -> None:
    """A 12-column CSV written by pandas (as a user's pipeline would write it), seeded."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(50_000, 15_000, rows).round(2),
            "score": rng.random(rows),
            "city": rng.choice(["Paris", "Lyon", "Nantes", "Lille", "Bordeaux"], rows),
            "churned": rng.choice(["yes", "no"], rows),
            "x1": rng.normal(size=rows),
            "x2": rng.normal(size=rows),
            "visits": rng.integers(0, 1000, rows),
            "code": [f"C{value:07d}" for value in rng.integers(0, 10**7, rows)],
            "ratio": rng.random(rows) * 10,
            "label": rng.integers(0, 2, rows),
        }
    )
    frame.to_csv(path, index=False)


def measure(kind: str, path: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _CHILD, kind, str(path)], check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate is not None:
        generate(args.generate, args.rows)
        return
    print(f"load average before: {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        # In a child: a process's peak RSS survives exec, so the measuring children are forked from a small parent.
        subprocess.run([sys.executable, __file__, "--generate", str(path), "--rows", str(args.rows)], check=True)
        size = path.stat().st_size / (1 << 20)
        print(f"{args.rows:,} rows x 12 columns, {size:.0f} MiB")
        runs: dict[str, list[dict[str, float]]] = {"pandas": [], "identity": []}
        for _ in range(args.repeat):
            for kind, items in runs.items():
                items.append(measure(kind, path))
    best = {kind: min(item["seconds"] for item in items) for kind, items in runs.items()}
    cpu = {kind: min(item["cpu"] for item in items) for kind, items in runs.items()}
    peak = {kind: max(item["peak_mib"] for item in items) for kind, items in runs.items()}
    for kind, label in (("pandas", "pandas.read_csv"), ("identity", "table_identity")):
        print(f"{label:<16} best {best[kind]:.3f} s wall, {cpu[kind]:.3f} s CPU   peak RSS {peak[kind]:.0f} MiB")
    ratio = best["identity"] / best["pandas"]
    print(f"ratio digest/read_csv: {ratio:.2f} (target <= 1.5): {'PASS' if ratio <= 1.5 else 'FAIL'}")
    print(f"CPU-time ratio digest/read_csv: {cpu['identity'] / cpu['pandas']:.2f}")
    print(f"load average after: {_load()}")


def _load() -> str:
    """The 1, 5 and 15-minute load averages (the machine is shared: they say what the figures were measured under)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
