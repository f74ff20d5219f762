"""``team audit`` finds a route planted to be unprotected in a test app that otherwise refuses everyone but its admin.

The app is a real HTTP server on a free loopback port: the admin gets an answer everywhere (enough JSON for the
audit's scratch objects), anyone else 401/403, except one artifact route planted to answer anybody (the known class
of bug: an artifact route left unchecked).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reprise.team._http import Credentials
from reprise.team.audit import audit_server

_ADMIN = Credentials("admin", "admin-pw-for-the-test-app")
_PLANTED = "/api/2.0/mlflow-artifacts/artifacts/1/r1/artifacts/probe.txt"
_ANSWER = {
    "experiment_id": "1",
    "experiment": {"experiment_id": "1", "artifact_location": "mlflow-artifacts:/1"},
    "run": {"info": {"run_id": "r1"}},
    "model_version": {"version": "1"},
    "role": {"id": 1},
    "roles": [],
}


class _App(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urllib.parse.urlsplit(self.path).path
        login = self.headers.get("Authorization")
        if login == _ADMIN.header():
            status, body = 200, json.dumps(_ANSWER).encode()
        elif path == _PLANTED and self.command == "GET":
            status, body = 200, b"probe"
        else:
            status, body = (401 if login is None else 403), b'{"error_code": "PERMISSION_DENIED"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def planted_app() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_audit_reports_exactly_the_planted_unprotected_route(planted_app: str) -> None:
    report = audit_server(planted_app, _ADMIN)
    assert not report.ok
    assert [(leak.identity, leak.method, leak.path, leak.status) for leak in report.leaks] == [
        ("anonymous", "GET", _PLANTED, 200)
    ]
    # The app refuses the reader and the editor everywhere else: the audit says so, and does not call it a leak.
    assert {item.identity for item in report.refusals} == {"reader", "editor"}


def test_the_audit_command_exits_1_and_names_the_leak(planted_app: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "MLFLOW_TRACKING_USERNAME": _ADMIN.username, "MLFLOW_TRACKING_PASSWORD": _ADMIN.password}
    done = subprocess.run(
        [sys.executable, "-m", "reprise", "team", "audit", planted_app, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    found = json.loads(done.stdout)
    assert [leak["path"] for leak in found["leaks"]] == [_PLANTED]
    assert _ADMIN.password not in done.stdout + done.stderr
