"""``reprise serve`` over real HTTP: a uvicorn subprocess on 127.0.0.1 serving a model from a real MLflow SQLite store.

One project is built per module with two captured training runs, and one server (``reprise serve flip@champion``)
is started for the module; the tests run in file order, as a deployment lives:

1. v1 (a log transform, then a random forest) answers: predictions equal to ``mlflow.pyfunc`` on the same rows,
   provenance, validation, metrics, and a model error (a 0 in the first feature: log(0) is -infinity, which the forest
   refuses) that fails only its own request;
2. the alias moves to v2 (a plain forest) under a steady load: swapped without a failed request;
3. the alias moves to v3, whose files are corrupt: refused, v2 keeps serving, ``/health`` says why;
4. schemathesis fuzzes the API served by v2 (a model that accepts every valid record).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import httpx
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

import reprise
from reprise.config import Settings, load_settings

# Not ours to fix: MLflow 3.17 compares an input example's columns with a range, which pandas 3.1 deprecates, and
# its first `import mlflow.pyfunc` warns about its own type hints (the message starts with ANSI colour codes).
pytestmark = [
    pytest.mark.filterwarnings("ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

BIN = Path(sys.executable).parent
_GIT = ["git", "-c", "user.name=Reprise Tests", "-c", "user.email=tests@reprise.invalid"]
_MAX_RECORDS = 50
_MAX_BYTES = 20_000


@dataclass(frozen=True)
class Server:
    url: str
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@dataclass(frozen=True)
class Project:
    root: Path
    settings: Settings
    frame: Any  # the iris features (a DataFrame)
    runs: dict[str, str]  # version -> run id
    server: Server

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.settings.tracking_uri)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serving(root: Path, ref: str, *flags: str) -> Iterator[tuple[subprocess.Popen[bytes], Server]]:
    port = _free_port()
    log = root / f"serve-{ref.replace('@', '-')}.log"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    argv = [sys.executable, "-m", "reprise", "serve", ref, "--port", str(port), *flags]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process, Server(f"http://127.0.0.1:{port}", log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_ready(process: subprocess.Popen[bytes], server: Server, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{server.log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"the server was not ready in {timeout} s:\n{server.log.read_text()[-4000:]}")


def _train(settings: Settings, name: str, model: Any, frame: Any, target: Any) -> tuple[str, str]:
    """Fit ``model`` as a captured run, log it with its signature; return (run id, model URI)."""
    with reprise.start_run("serve", params={"model": name}, inputs=["data.csv"], settings=settings) as run:
        model.fit(frame, target)
        logged = reprise.log_model(model, frame.head(5))
        run.log_metrics({"accuracy": float((model.predict(frame) == target).mean())})
    return run.run_id, logged.model_uri


def _register(client: MlflowClient, name: str, source: str, run_id: str, **tags: str) -> int:
    with contextlib.suppress(mlflow.exceptions.MlflowException):
        client.create_registered_model(name)
    return int(client.create_model_version(name, source, run_id=run_id, tags=tags).version)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Iterator[Project]:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    root = tmp_path_factory.mktemp("serve") / "project"
    reprise.init_project(root)
    shutil.copyfile(mlflow_db_template, root / ".reprise" / "mlflow.db")
    (root / "data.csv").write_text("iris from scikit-learn\n")
    subprocess.run([*_GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*_GIT, "commit", "-q", "-m", "init"], cwd=root, check=True)
    settings = load_settings(root, environ={})
    frame, target = load_iris(return_X_y=True, as_frame=True)
    client = MlflowClient(tracking_uri=settings.tracking_uri)

    fragile = Pipeline([("log", FunctionTransformer(np.log)), ("forest", RandomForestClassifier(30, random_state=0))])
    first_run, first_uri = _train(settings, "fragile", fragile, frame, target)
    _register(client, "flip", first_uri, first_run)
    client.set_registered_model_alias("flip", "champion", "1")
    second_run, second_uri = _train(settings, "forest", RandomForestClassifier(10, random_state=0), frame, target)
    _register(client, "flip", second_uri, second_run, git_commit="0" * 40, data_digest="sha256:registered")

    limits = ["--max-batch-records", str(_MAX_RECORDS), "--max-body-bytes", str(_MAX_BYTES)]
    with _serving(root, "flip@champion", *limits, "--reload-interval", "0.5") as (process, server):
        _wait_ready(process, server)
        yield Project(root, settings, frame, {"v1": first_run, "v2": second_run}, server)


def _record(project: Project, index: int = 0) -> dict[str, float]:
    return {key: float(value) for key, value in project.frame.iloc[index].items()}


# ---- predictions and provenance ------------------------------------------------------------------------------------


def test_predictions_equal_the_pyfunc_model_on_the_same_rows(project: Project) -> None:
    pyfunc = mlflow.pyfunc.load_model("models:/flip/1")
    rows = project.frame.iloc[::5]
    expected = pyfunc.predict(rows).tolist()
    expected_proba = pyfunc.get_raw_model().predict_proba(rows).tolist()
    records = [{key: float(value) for key, value in row.items()} for _, row in rows.iterrows()]

    with project.server.client() as client:
        batch = client.post("/predict/batch", json={"records": records})
        # Concurrent single records: the batcher gathers them into shared model calls.
        with ThreadPoolExecutor(8) as pool:
            singles = list(pool.map(lambda record: client.post("/predict", json=record), records))

    assert batch.status_code == 200, batch.text
    assert batch.json()["predictions"] == expected
    got_proba = batch.json()["probabilities"]
    assert [[row[str(label)] for label in (0, 1, 2)] for row in got_proba] == expected_proba
    assert [single.json()["prediction"] for single in singles] == expected
    assert [[single.json()["probabilities"][str(c)] for c in (0, 1, 2)] for single in singles] == expected_proba


def test_every_prediction_carries_its_provenance(project: Project) -> None:
    with project.server.client() as client:
        answer = client.post("/predict", json=_record(project))
        batch = client.post("/predict/batch", json={"records": [_record(project, 60)]})
    for response in (answer, batch):
        assert response.status_code == 200, response.text
        assert response.headers["x-model-name"] == "flip"
        assert response.headers["x-model-version"] == "1"
        assert response.headers["x-run-id"] == project.runs["v1"]
        assert response.json()["model"] == {
            "name": "flip",
            "version": 1,
            "alias": "champion",
            "run_id": project.runs["v1"],
        }
    assert answer.json()["prediction"] == 0
    assert batch.json()["predictions"] == [1]
    assert sum(answer.json()["probabilities"].values()) == pytest.approx(1.0)


def test_model_info_traces_the_version_to_its_run_code_and_data(project: Project) -> None:
    run = project.client.get_run(project.runs["v1"])
    with project.server.client() as client:
        info = client.get("/model/info").json()
    assert (info["name"], info["version"], info["alias"]) == ("flip", 1, "champion")
    assert info["run_id"] == project.runs["v1"]
    assert info["git_commit"] == run.data.tags["reprise.git_commit"] != ""
    assert info["data_digest"] == run.data.tags["reprise.data_digest"]
    assert info["data_digest"].startswith("sha256:")
    assert info["metrics"]["accuracy"] == run.data.metrics["accuracy"]
    assert info["model_type"] == "Pipeline"
    assert [column["name"] for column in info["inputs"]] == list(project.frame.columns)
    assert info["signature"]["inputs"][0] == {"type": "double", "name": "sepal length (cm)", "required": True}
    assert info["classes"] == ["0", "1", "2"]


def test_health_metrics_and_openapi(project: Project) -> None:
    with project.server.client() as client:
        health = client.get("/health")
        client.post("/predict", json=_record(project))
        metrics = client.get("/metrics")
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert health.status_code == 200
    assert health.json()["status"] == "ready"
    assert health.json()["model"]["version"] == 1
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert 'reprise_http_requests_total{endpoint="/predict",method="POST",status="200"}' in text
    assert 'reprise_http_request_duration_seconds_bucket{endpoint="/predict",method="POST",le="+Inf"}' in text
    assert 'reprise_model_version{name="flip",alias="champion"} 1' in text
    assert "reprise_model_batch_rows_count" in text
    record = schema["components"]["schemas"]["Record"]
    assert list(record["properties"]) == list(project.frame.columns)
    assert record["additionalProperties"] is False
    assert record["examples"] == [_record(project, 0)]  # the logged input example, for /docs "Try it out"
    assert set(schema["paths"]) == {"/health", "/model/info", "/predict", "/predict/batch", "/metrics"}
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_a_port_in_use_is_one_error_with_a_hint_before_anything_is_announced(project: Project) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "reprise", "serve", "flip@champion", "--port", str(port)],
            cwd=project.root, capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert f"--port {port + 1}" in done.stderr.splitlines()[-1]  # the hint
    assert "serving flip" not in done.stderr + done.stdout and "Traceback" not in done.stderr  # nothing announced


# ---- the API docs, offline ----------------------------------------------------------------------------------------

#: Hosts Chromium itself calls in the background (updates, clock, accounts, autofill): not asked for by the page.
_CHROMIUM_OWN: Final = (".google.com", "update.googleapis.com", "content-autofill.googleapis.com",
                        "optimizationguide-pa.googleapis.com", ".gvt1.com")  # fmt: skip


class _Assets(HTMLParser):
    """Every URL a page loads: ``src`` and ``href`` attributes (the pages' inline script names the OpenAPI URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_reference_no_outside_asset_and_the_service_serves_each_one(project: Project, page: str) -> None:
    with project.server.client() as client:
        html = client.get(page)
        parser = _Assets()
        parser.feed(html.text)
        assets = {url: client.get(url) for url in parser.urls}
    assert html.status_code == 200
    assert "default-src 'self'" in html.headers["content-security-policy"]
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", html.text), "the page names an outside URL"
    assert len(assets) >= (3 if page == "/docs" else 2)  # script (+ style) and icon
    for url, response in assets.items():
        assert url.startswith("/docs-assets/"), url
        assert (response.status_code, len(response.content) > 1000) == (200, True), url
        if url.endswith(".css"):
            assert not re.search(r"url\(\s*['\"]?(https?:)?//", response.text), f"{url} loads an outside resource"


@pytest.mark.parametrize(("page", "rendered"), [("/docs", 'data-path="/predict/batch"'),
                                                ("/redoc", "Predict a batch of records")])  # fmt: skip
def test_the_docs_render_in_headless_chromium_with_no_network(
    project: Project, tmp_path: Path, page: str, rendered: str, chromium: str
) -> None:
    """Every request off 127.0.0.1 goes to a proxy that records it and answers 502; the page still renders."""
    asked: list[str] = []

    class Refuse(BaseHTTPRequestHandler):
        def refuse(self) -> None:
            asked.append(self.path)  # CONNECT host:443 for https, the full URL for http
            self.send_response(502)
            self.end_headers()

        do_GET = do_POST = do_HEAD = do_CONNECT = refuse

        def log_message(self, *args: Any) -> None:
            pass

    home = tmp_path / "home"
    home.mkdir()
    with ThreadingHTTPServer(("127.0.0.1", 0), Refuse) as proxy:
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        try:
            done = subprocess.run(
                [
                    chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                    f"--proxy-server=http://127.0.0.1:{proxy.server_address[1]}", "--virtual-time-budget=15000",
                    "--dump-dom", f"{project.server.url}{page}",
                ],
                env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
        finally:
            proxy.shutdown()
    assert done.returncode == 0, done.stderr[-2000:]
    assert rendered in done.stdout, done.stdout[-2000:]  # rendered from the service's own files, offline
    hosts = {urllib.parse.urlsplit(path if "//" in path else f"//{path}").hostname or path for path in asked}
    assert {host for host in hosts if not host.endswith(_CHROMIUM_OWN)} == set(), asked


# ---- readiness while the model loads --------------------------------------------------------------------------------


def test_health_says_loading_with_progress_until_the_model_answers(project: Project) -> None:
    """The real app and model, in-process; the load waits for a signal so the loading state can be seen."""
    from reprise.serve.app import Service, create_app, lifespan
    from reprise.serve.batching import MicroBatcher
    from reprise.serve.loader import ModelSlot
    from reprise.serve.options import ServeOptions
    from reprise.serve.routes import build_api
    from reprise.tracking.serving import load_servable

    go = threading.Event()

    def load_when_told(settings: Settings, version: Any) -> Any:
        assert go.wait(60)
        return load_servable(settings, version)

    options = ServeOptions(reload_interval=0, batching=False, freeze_gc=False)
    built: Service = create_app(project.settings, "flip/1", options=options).state.service
    slot = ModelSlot(project.settings, built.prepared, reload_interval=0, load=load_when_told)
    batcher = MicroBatcher(lambda: slot.current, metrics=built.metrics, batching=False, max_rows=1, max_wait=0.0)
    app = build_api(dataclasses.replace(built, slot=slot, batcher=batcher), lifespan=lifespan)

    async def exercise() -> tuple[list[dict[str, Any]], httpx.Response, httpx.Response]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client,
        ):
            seen = []
            await asyncio.sleep(0.1)  # the load starts on the event loop's next turns
            for _ in range(3):
                answer = await client.get("/health")
                assert answer.status_code == 503
                seen.append(answer.json())
                await asyncio.sleep(0.15)
            early = await client.post("/predict", json=_record(project))
            go.set()
            deadline = time.monotonic() + 60
            while (ready := await client.get("/health")).status_code != 200:
                assert time.monotonic() < deadline, ready.json()
                await asyncio.sleep(0.05)
            return seen, early, ready

    seen, early, ready = asyncio.run(exercise())
    assert [(state["status"], state["ready"], state["loading"]["version"]) for state in seen] == [
        ("loading", False, 1)
    ] * 3
    elapsed = [state["loading"]["elapsed_seconds"] for state in seen]
    assert elapsed == sorted(elapsed) and elapsed[-1] >= 0.3, elapsed
    assert seen[-1]["message"] == f"loading flip v1: {elapsed[-1]:.1f} s so far"
    assert (early.status_code, early.json()["error"]["code"]) == (503, "not-ready")
    assert (ready.json()["status"], ready.json()["loading"], ready.json()["model"]["version"]) == ("ready", None, 1)
    assert ready.json()["message"] == "serving flip v1"


def test_the_worker_factory_builds_the_app_from_the_environment(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each worker of ``reprise serve --workers N`` runs, here in-process (lifespan and ASGI transport)."""
    from reprise.serve.app import ENV_MODEL, ENV_OPTIONS, ENV_PROJECT, create_app_from_env
    from reprise.serve.options import ServeOptions

    monkeypatch.setenv(ENV_MODEL, "flip/1")
    monkeypatch.setenv(ENV_PROJECT, str(project.root))
    monkeypatch.setenv(ENV_OPTIONS, ServeOptions(reload_interval=0, batching=False, freeze_gc=False).to_json())
    monkeypatch.setenv("REPRISE_TRACKING_URI", project.settings.tracking_uri)
    app = create_app_from_env()

    async def exercise() -> tuple[httpx.Response, dict[str, Any]]:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client,
        ):
            deadline = time.monotonic() + 60
            while (await client.get("/health")).status_code != 200:
                assert time.monotonic() < deadline, (await client.get("/health")).json()
                await asyncio.sleep(0.05)
            return await client.post("/predict", json=_record(project, 100)), (await client.get("/model/info")).json()

    answer, info = asyncio.run(exercise())
    assert answer.status_code == 200, answer.text
    assert (answer.headers["x-model-version"], answer.json()["prediction"]) == ("1", 2)
    assert (info["version"], info["alias"]) == (1, None)


# ---- validation: every bad input gets its 4xx and a body naming the field and the problem --------------------------


def _bad_requests(project: Project) -> dict[str, tuple[str, Any, int, str, str]]:
    good = _record(project)
    first = "sepal length (cm)"
    missing = {key: value for key, value in good.items() if key != "petal width (cm)"}
    nan_body = json.dumps(good).replace(str(good[first]), "NaN", 1)
    return {
        "missing-feature": ("/predict", missing, 422, "petal width (cm)", "missing"),
        "unknown-feature": ("/predict", {**good, "colour": "blue"}, 422, "colour", "unknown_feature"),
        "wrong-type": ("/predict", {**good, first: "5.1"}, 422, first, "wrong_type"),
        "nan": ("/predict", nan_body, 422, first, "not_finite"),
        "empty-batch": ("/predict/batch", {"records": []}, 422, "records", "empty_batch"),
        "batch-over-limit": ("/predict/batch", {"records": [good] * (_MAX_RECORDS + 1)}, 422, "records",
                             "batch_too_large"),
        "bad-record-in-batch": ("/predict/batch", {"records": [good, {**good, first: None}]}, 422,
                                f"records[1].{first}", "wrong_type"),
        "malformed-json": ("/predict", '{"sepal length (cm)": 5.1,', 400, "body", "malformed_json"),
        "not-an-object": ("/predict", [good], 422, "body", "not_an_object"),
        "body-over-limit": ("/predict/batch", {"records": [{**good, "pad": "x" * 500}] * 45}, 413, "body",
                            "too_large"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    [
        "missing-feature",
        "unknown-feature",
        "wrong-type",
        "nan",
        "empty-batch",
        "batch-over-limit",
        "bad-record-in-batch",
        "malformed-json",
        "not-an-object",
        "body-over-limit",
    ],
)
def test_a_bad_request_is_refused_naming_the_field_and_the_problem(project: Project, case: str) -> None:
    path, body, status, field, kind = _bad_requests(project)[case]
    content = body if isinstance(body, str) else json.dumps(body)
    with project.server.client() as client:
        response = client.post(path, content=content, headers={"content-type": "application/json"})
        still = client.post("/predict", json=_record(project))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == {400: "malformed-request", 413: "body-too-large", 422: "invalid-request"}[status]
    assert (error["fields"][0]["field"], error["fields"][0]["type"]) == (field, kind), error
    assert error["fields"][0]["problem"]
    assert field in error["message"]
    assert still.status_code == 200


def test_a_null_for_a_number_is_named_in_json_words(project: Project) -> None:
    first = "sepal length (cm)"
    with project.server.client() as client:
        response = client.post("/predict", json={**_record(project), first: None})
        text = client.post("/predict", json={**_record(project), first: "5.1"})
    assert response.status_code == 422
    assert (
        response.json()["error"]["fields"][0]["problem"] == "wrong type: expected number (MLflow type double), got null"
    )
    assert text.json()["error"]["fields"][0]["problem"].endswith('got string "5.1"')
    assert "None" not in response.text and "'" not in text.json()["error"]["message"]


def test_an_unknown_route_is_a_404_in_the_same_shape(project: Project) -> None:
    with project.server.client() as client:
        response = client.get("/nope")
        wrong_method = client.get("/predict")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not-found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == "error"


# ---- model errors, hot reload, a version that fails to load ---------------------------------------------------------


def test_a_model_error_is_a_500_with_an_error_id_and_the_server_keeps_serving(project: Project) -> None:
    poison = {**_record(project), "sepal length (cm)": 0.0}  # log(0) = -inf: the forest refuses it
    records = [_record(project, index) for index in range(0, 140, 20)]
    with project.server.client() as client:
        assert client.get("/model/info").json()["version"] == 1
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda body: client.post("/predict", json=body), [*records, poison]))
        after = client.post("/predict", json=records[0])
    failed = answers[-1]
    assert failed.status_code == 500
    error = failed.json()["error"]
    assert error["code"] == "model-error"
    assert error["error_id"] == failed.headers["x-error-id"]
    assert "Traceback" not in failed.text
    assert "infinity" not in failed.text  # the model's message stays in the server log
    assert failed.headers["x-model-version"] == "1"
    assert [answer.status_code for answer in answers[:-1]] == [200] * len(records)
    assert after.status_code == 200
    assert error["error_id"] in project.server.log.read_text()


def test_an_alias_move_under_load_swaps_versions_without_a_failed_request(project: Project) -> None:
    record = _record(project, 75)
    seen: list[tuple[int, int, str | None]] = []
    stop = threading.Event()

    def load(index: int) -> None:
        with project.server.client() as client:
            for _ in range(3000):  # bounded in count, and by `stop` in time
                if stop.is_set():
                    return
                response = client.post("/predict", json=record)
                seen.append((index, response.status_code, response.headers.get("x-model-version")))

    threads = [threading.Thread(target=load, args=(index,), daemon=True) for index in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        project.client.set_registered_model_alias("flip", "champion", "2")
        deadline = time.monotonic() + 60
        with project.server.client() as client:
            while client.get("/model/info").json()["version"] != 2:
                assert time.monotonic() < deadline, "the server did not pick up v2 in 60 s"
                time.sleep(0.1)
        time.sleep(0.5)  # requests keep flowing on v2
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert seen, "no request was made"
    assert [entry for entry in seen if entry[1] != 200] == []
    assert {version for _, _, version in seen} == {"1", "2"}
    for index in range(len(threads)):
        versions = [int(version or 0) for client, _, version in seen if client == index]
        assert versions == sorted(versions), f"client {index} saw v1 after v2"
    with project.server.client() as client:
        info = client.get("/model/info").json()
        health = client.get("/health").json()
    assert (info["version"], info["run_id"]) == (2, project.runs["v2"])
    assert (health["status"], health["model"]["version"]) == ("ready", 2)
    # v2 was registered with provenance tags: they take precedence over its run's.
    assert (info["git_commit"], info["data_digest"]) == ("0" * 40, "sha256:registered")


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(project: Project, tmp_path: Path) -> None:
    _serve_version(project, 2)  # where the previous test left it; alone, this test gets there itself
    client = project.client
    broken = tmp_path / "broken-model"
    shutil.copytree(mlflow.artifacts.download_artifacts(client.get_model_version_download_uri("flip", "2")), broken)
    for path in broken.glob("model.*"):
        if path.suffix in (".skops", ".pkl"):
            path.write_bytes(b"not a model")
    version = _register(client, "flip", broken.as_uri(), project.runs["v2"])
    client.set_registered_model_alias("flip", "champion", str(version))
    deadline = time.monotonic() + 60
    with project.server.client() as http:
        while (health := http.get("/health").json())["last_error"] is None:
            assert time.monotonic() < deadline, "the failed load was not reported in 60 s"
            time.sleep(0.1)
        answer = http.post("/predict", json=_record(project, 75))
        info = http.get("/model/info").json()
    assert health["status"] == "degraded"
    assert health["ready"] is True
    assert health["last_error"]["version"] == version
    assert f"cannot load flip v{version}" in health["last_error"]["message"]
    assert (answer.status_code, answer.headers["x-model-version"]) == (200, "2")
    assert info["version"] == 2
    assert f"cannot load flip v{version}" in project.server.log.read_text()


# ---- fuzzing --------------------------------------------------------------------------------------------------


def test_schemathesis_finds_no_server_error(project: Project) -> None:
    _serve_version(project, 2)  # v1 refuses a 0 in its first feature by design: fuzz the forest that does not
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    result = subprocess.run(
        [str(BIN / "schemathesis"), "run", f"{project.server.url}/openapi.json", "--checks", checks,
         "--max-examples", "25", "--seed", "7", "--phases", "examples,coverage,fuzzing", "--no-shrink",
         "--request-timeout", "20"],
        capture_output=True, text=True, timeout=240, check=False, cwd=project.root,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout


def _serve_version(project: Project, version: int) -> None:
    """Point the alias at ``version`` unless the server already serves it, and wait until it does."""
    with project.server.client() as client:
        if client.get("/model/info").json()["version"] == version:
            return
        project.client.set_registered_model_alias("flip", "champion", str(version))
        deadline = time.monotonic() + 60
        while client.get("/model/info").json()["version"] != version:
            assert time.monotonic() < deadline, f"the server did not pick up v{version} in 60 s"
            time.sleep(0.1)
