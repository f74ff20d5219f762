"""``reprise serve`` against ``mlflow models serve`` on the same registered model, same machine, same run.

A 100-tree RandomForestClassifier (breast cancer data, 30 features, nothing downloaded) is registered in a temporary
project as ``bench_rf@champion``. Each server is started on 127.0.0.1, one after the other, and driven with the same
bounded closed-loop load: ``--concurrency`` clients on keep-alive connections, each sending its next request when
the previous one is answered, for ``--duration`` seconds after a short warm-up, first with 1-row requests, then with
100-row requests. ``reprise serve`` runs twice: micro-batching on (the default) and off. Both servers get the same
rows, JSON-encoded once. The clients are a minimal HTTP/1.1 client (``--client raw``, the default) or
httpx.AsyncClient (``--client httpx``), which costs more CPU per request here than a fast server does.

Target (issue 7): reprise >= 5x the requests/s of ``mlflow models serve`` on 1-row requests at concurrency 8, with
p99 < 50 ms.

    uv run python bench/bench_serve.py [--duration 10] [--concurrency 8] [--client raw|httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

MODEL = "bench_rf"
ALIAS = "champion"


@dataclass(frozen=True)
class Result:
    server: str
    rows: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _register(root: Path) -> tuple[str, list[dict[str, float]]]:
    """Train and register the model; return the tracking URI and the dataset's rows as records."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from reprise.config import load_settings
    from reprise.project import init_project
    from reprise.tracking._client import ensure_experiment
    from reprise.tracking.models import log_model

    init_project(root)
    settings = load_settings(root)
    # Through Reprise's client, so the store and the experiment keep their artifacts under the temporary project
    # (MLflow alone would root the Default experiment at ./mlruns in the working directory).
    experiment_id = ensure_experiment(settings, "bench")
    mlflow.set_tracking_uri(settings.tracking_uri)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    with mlflow.start_run(experiment_id=experiment_id):
        logged = log_model(model, X.head(5))
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    client.create_registered_model(MODEL)
    version = client.create_model_version(MODEL, source=logged.model_uri, run_id=logged.run_id)
    client.set_registered_model_alias(MODEL, ALIAS, version.version)
    return settings.tracking_uri, X.to_dict(orient="records")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(argv: list[str], cwd: Path, env: dict[str, str], health: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{argv[:4]} exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    _stop(process)
    raise SystemExit(f"{argv[:4]} did not become healthy in 120 s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class _Connection:
    """A minimal HTTP/1.1 keep-alive client: one connection, one request at a time.

    httpx costs ~2.5 ms of CPU per request here, more than the server under test; on two shared cores the load
    generator would then measure itself. This client costs a few tens of microseconds and treats both servers alike.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length, chunked, close = 0, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            while (size := int((await self.reader.readline()).strip(), 16)) > 0:
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            await self.reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def _drive(
    url: str, bodies: list[bytes], concurrency: int, duration: float, warmup: float, client: str
) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    errors = 0
    parsed = httpx.URL(url)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=30) as pool:
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + duration

        async def worker(offset: int) -> None:
            nonlocal errors
            connection = _Connection(parsed.host, parsed.port or 80)
            index = offset
            try:
                while True:
                    sent = time.perf_counter()
                    if sent >= stop_at:
                        return
                    body = bodies[index % len(bodies)]
                    if client == "raw":
                        status = await connection.post(parsed.path, body)
                    else:
                        status = (await pool.post(url, content=body, headers=headers)).status_code
                    done = time.perf_counter()
                    index += concurrency
                    if sent >= measure_from:
                        if status == 200:
                            latencies.append(done - sent)
                        else:
                            errors += 1
            finally:
                await connection.close()

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return len(latencies), errors, latencies


def _measure(name: str, url: str, bodies: list[bytes], rows: int, args: argparse.Namespace) -> Result:
    count, errors, latencies = asyncio.run(
        _drive(url, bodies, args.concurrency, args.duration, args.warmup, args.client)
    )
    latencies.sort()
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000 if latencies else float("nan")
    result = Result(name, rows, count, errors, args.duration, p50, p99)
    print(
        f"  {name:<27} {rows:>3} row(s): {result.rps:7.1f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
        f"  ({count} ok, {errors} failed)",
        flush=True,
    )
    return result


def _bodies(records: list[dict[str, float]], rows: int, kind: str) -> list[bytes]:
    """64 request bodies of ``rows`` records each, JSON-encoded once (both servers get the same rows)."""
    bodies: list[bytes] = []
    for start in range(0, 64 * rows, rows):
        chunk = [records[(start + i) % len(records)] for i in range(rows)]
        if kind == "mlflow":
            body: object = {"dataframe_records": chunk}
        elif rows == 1:
            body = chunk[0]
        else:
            body = {"records": chunk}
        bodies.append(json.dumps(body).encode())
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per server and payload")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each measurement")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--only", choices=["reprise", "mlflow"], default=None, help="run one server only")
    parser.add_argument(
        "--client", choices=["raw", "httpx"], default="raw", help="load generator (raw: minimal HTTP/1.1 client)"
    )
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp) / "project"
        tracking_uri, records = _register(root)
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            # `mlflow models serve` runs `uvicorn` from PATH: this venv's.
            "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        mlflow_cli = shutil.which("mlflow", path=str(bindir)) or "mlflow"
        servers = {
            "mlflow models serve": (
                [mlflow_cli, "models", "serve", "-m", f"models:/{MODEL}@{ALIAS}", "--env-manager", "local"],
                "/invocations",
                "/health",
                "mlflow",
            ),
            "reprise serve": (
                [sys.executable, "-m", "reprise", "serve", f"{MODEL}@{ALIAS}"],
                "/predict",
                "/health",
                "reprise",
            ),
            "reprise serve --no-batching": (
                [sys.executable, "-m", "reprise", "serve", f"{MODEL}@{ALIAS}", "--no-batching"],
                "/predict",
                "/health",
                "reprise",
            ),
        }
        print(
            f"{args.concurrency} concurrent clients ({args.client} client), {args.duration:g} s measured per case after"
            f" {args.warmup:g} s warm-up; model: 100-tree RandomForestClassifier, 30 features;"
            f" load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        results: dict[tuple[str, int], Result] = {}
        for name, (argv, predict, health, kind) in servers.items():
            if args.only is not None and kind != args.only:
                continue
            port = _free_port()
            host_args = ["-h", "127.0.0.1", "-p", str(port)] if kind == "mlflow" else ["--port", str(port)]
            base = f"http://127.0.0.1:{port}"
            process = _start([*argv, *host_args], root, env, base + health, Path(tmp) / f"{kind}-{port}.log")
            try:
                for rows in (1, 100):
                    path = predict if kind == "mlflow" or rows == 1 else "/predict/batch"
                    results[name, rows] = _measure(name, base + path, _bodies(records, rows, kind), rows, args)
            finally:
                _stop(process)
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
        if args.only is None:
            print("ratios (reprise serve / mlflow models serve):")
            for rows in (1, 100):
                ours, theirs = results["reprise serve", rows], results["mlflow models serve", rows]
                print(
                    f"  {rows:>3} row(s): requests/s x{ours.rps / theirs.rps:.1f}, "
                    f"p50 x{ours.p50_ms / theirs.p50_ms:.2f}, p99 x{ours.p99_ms / theirs.p99_ms:.2f}"
                )
            single, base_single = results["reprise serve", 1], results["mlflow models serve", 1]
            met = single.rps >= 5 * base_single.rps and single.p99_ms < 50
            print(
                f"target (1 row, concurrency {args.concurrency}: >= 5x requests/s, p99 < 50 ms): "
                f"{'met' if met else 'MISSED'}"
            )


if __name__ == "__main__":
    main()
