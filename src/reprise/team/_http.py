"""Plain HTTP to the team's MLflow server, with or without a login: its REST API is the contract, not its client.

The auth administration routes (users, roles) and the audit's probes need nothing of MLflow's Python package; talking
HTTP keeps ``reprise.team`` free of it (MLflow is imported only under ``tracking/`` and ``registry/``).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Final

from reprise.capture.redact import redact_uri
from reprise.errors import ConfigError, TrackingError

__all__ = ["Credentials", "Reply", "call", "credentials_from_env"]

USERNAME_ENV: Final = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV: Final = "MLFLOW_TRACKING_PASSWORD"  # noqa: S105 - the name of a variable, not a password


@dataclass(frozen=True)
class Credentials:
    """A login on the team's server (the password never shows in a repr or a log)."""

    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        """The ``Authorization`` header value."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


@dataclass(frozen=True)
class Reply:
    """What the server answered: the status and the body (parsed when it is JSON)."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON (``{}`` when empty or not JSON)."""
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {}


def credentials_from_env() -> Credentials:
    """The caller's login from ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (what MLflow itself reads).

    Raises:
        ConfigError: Either variable is missing.
    """
    username, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if not username or not password:
        raise ConfigError(
            f"{USERNAME_ENV} and {PASSWORD_ENV} must be set to log in to the team's server",
            hint=f"export {USERNAME_ENV}=<admin> {PASSWORD_ENV}=<password>",
        )
    return Credentials(username, password)


def call(
    base_url: str,
    method: str,
    path: str,
    *,
    auth: Credentials | None = None,
    body: Any = None,
    params: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 30.0,
) -> Reply:
    """One request; any HTTP status is an answer (the caller judges it), only no answer at all is an error.

    Args:
        base_url: The server (``http://host:port``).
        method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        path: The route, with its leading slash.
        auth: The login, or None for an anonymous request.
        body: A JSON body.
        params: Query parameters.
        data: A raw body (an artifact upload); wins over ``body``.
        timeout: Seconds to wait for the answer.

    Raises:
        TrackingError: The server cannot be reached or did not answer.
    """
    url = base_url.rstrip("/") + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
    headers = {"Accept": "application/json"}
    payload = data
    if payload is None and body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if auth is not None:
        headers["Authorization"] = auth.header()
    request = urllib.request.Request(url, data=payload, headers=headers, method=method)  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) only
            return Reply(answer.status, answer.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read())
    except (OSError, http.client.HTTPException) as exc:
        raise TrackingError(
            f"the team's server {redact_uri(base_url)} did not answer {method} {path}: {exc}",
            hint="is `reprise team serve` running there?",
        ) from exc
