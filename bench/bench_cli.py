"""Everyday commands against their bare baselines, measured in the same run (issue 17).

- ``reprise run -- true`` against ``true`` (target: overhead under 0.5 s), with the store writes in the resident
  process (the default: the first sample may include starting it) and in the wrapper's own process
  (``REPRISE_RESIDENT=0``: what a run against a tracking server or PostgreSQL pays);
- ``reprise --help``, ``reprise runs`` and ``reprise registry list`` against ``python -c pass`` (target: under 1 s
  each);
- ``reprise quickstart DIR`` end to end, each time into a new folder (target: under 30 s; opt-in case
  ``quickstart``: it takes minutes);
- ``reprise serve MODEL@ALIAS`` from start to the first 200 on ``/health``, against the model's own load time in a
  plain Python process (``python -c "import mlflow.pyfunc; mlflow.pyfunc.load_model('models:/...')"``, process
  start to loaded; target: within 1.5x).

The model is the one ``bench_serve.py`` registers (a 100-tree RandomForestClassifier on the breast cancer data,
logged by ``reprise.log_model``) in a temporary project. Each case runs ``--repeat`` times (median reported; at least
5), the cases interleaved so that a change in the machine's load hits both sides of a ratio alike.

    uv run python bench/bench_cli.py [--repeat 5] [--cases run,help,runs,registry,serve]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_serve import ALIAS, MODEL, _free_port, _register, _stop


def _command_s(argv: list[str], cwd: Path, env: dict[str, str], cpu: list[float] | None = None) -> float:
    """Wall seconds of one command; with ``cpu``, its CPU seconds (user + system, the process and its children)
    are appended there, so a loaded machine's waiting can be told from the command's own work."""
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def _resident_cpu_s() -> dict[str, float]:
    """CPU seconds used so far by each resident tracking process running now (reprise.tracking._resident), by pid."""
    used = {}
    for proc in Path("/proc").iterdir():
        try:
            if b"reprise.tracking._resident" in (proc / "cmdline").read_bytes():
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                used[proc.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return used


def _serve_to_healthy_s(root: Path, env: dict[str, str], log: Path) -> float:
    """Seconds from starting ``reprise serve`` to its first 200 on ``/health`` (polled every 20 ms)."""
    port = _free_port()
    argv = [sys.executable, "-m", "reprise", "serve", f"{MODEL}@{ALIAS}", "--port", str(port)]
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(timeout=1) as client:
            while time.perf_counter() - started < 600:
                if process.poll() is not None:
                    raise SystemExit(f"reprise serve exited early:\n{log.read_text()[-3000:]}")
                try:
                    if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
        raise SystemExit(f"reprise serve was not healthy in 600 s:\n{log.read_text()[-3000:]}")
    finally:
        _stop(process)


def _report(name: str, samples: list[float], baseline_name: str, baseline: list[float]) -> None:
    ours, base = statistics.median(samples), statistics.median(baseline)
    spread = ", ".join(f"{s:.2f}" for s in samples)
    print(f"{name}: median {ours:.2f} s [{spread}]", flush=True)
    print(f"  {baseline_name}: median {base:.2f} s; ratio {ours / base:.2f}x; overhead {ours - base:.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (median reported; at least 5)")
    parser.add_argument(
        "--cases",
        default="run,help,runs,registry,serve",
        help="comma-separated: run, help, runs, registry, serve, quickstart",
    )
    args = parser.parse_args()
    repeat = max(args.repeat, 5)
    chosen = set(args.cases.split(","))
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        root = Path(tmp) / "project"
        tracking_uri, _ = _register(root)
        env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
        load = f"import mlflow.pyfunc; mlflow.pyfunc.load_model('models:/{MODEL}@{ALIAS}')"
        names = ("true", "run", "local", "help", "runs", "registry", "bare", "serve", "load", "quickstart")
        cases: dict[str, list[float]] = {name: [] for name in names}
        run = [sys.executable, "-m", "reprise", "run", "--", "true"]
        cpu: dict[str, list[float]] = {"run": [], "local": []}
        resident = 0.0
        local_env = {**env, "REPRISE_RESIDENT": "0"}
        print(
            f"{repeat} runs per case, interleaved; load average {os.getloadavg()[0]:.2f};"
            f" PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')}",
            flush=True,
        )
        for index in range(repeat):
            if "run" in chosen:
                cases["true"].append(_command_s(["true"], root, env))
                before = _resident_cpu_s()
                cases["run"].append(_command_s(run, root, env, cpu["run"]))
                resident += sum(used - before.get(pid, 0.0) for pid, used in _resident_cpu_s().items())
                cases["local"].append(_command_s(run, root, local_env, cpu["local"]))
            if chosen & {"help", "runs", "registry"}:
                cases["bare"].append(_command_s([sys.executable, "-c", "pass"], root, env))
            for case, argv in (("help", ["--help"]), ("runs", ["runs"]), ("registry", ["registry", "list"])):
                if case in chosen:
                    cases[case].append(_command_s([str(bindir / "reprise"), *argv], root, env))
            if "quickstart" in chosen:
                where = Path(tmp) / f"quickstart-{index}"
                own = {key: value for key, value in env.items() if key != "MLFLOW_TRACKING_URI"}  # its own store
                cases["quickstart"].append(_command_s([str(bindir / "reprise"), "quickstart", str(where)], root, own))
            if "serve" in chosen:
                cases["load"].append(_command_s([sys.executable, "-c", load], root, env))
                cases["serve"].append(_serve_to_healthy_s(root, env, Path(tmp) / f"serve-{index}.log"))
        if "run" in chosen:
            _report("reprise run -- true", cases["run"], "true", cases["true"])
            _report("reprise run -- true, REPRISE_RESIDENT=0", cases["local"], "true", cases["true"])
            print(
                f"CPU seconds per run, median: wrapper {statistics.median(cpu['run']):.2f} s"
                f" (+ resident, mean over the runs it served {resident / repeat:.2f} s);"
                f" REPRISE_RESIDENT=0 {statistics.median(cpu['local']):.2f} s",
                flush=True,
            )
        for case, title in (("help", "--help"), ("runs", "runs"), ("registry", "registry list")):
            if case in chosen:
                _report(f"reprise {title}", cases[case], "python -c pass", cases["bare"])
        if "quickstart" in chosen:
            samples = cases["quickstart"]
            spread = ", ".join(f"{sample:.1f}" for sample in samples)
            print(f"reprise quickstart: median {statistics.median(samples):.1f} s [{spread}] (target: under 30 s)")
        if "serve" in chosen:
            _report(
                f"reprise serve {MODEL}@{ALIAS} to a 200 /health",
                cases["serve"],
                "mlflow.pyfunc.load_model in a plain Python process",
                cases["load"],
            )


if __name__ == "__main__":
    main()
