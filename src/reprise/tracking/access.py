"""Who the caller is on the tracking server and what it grants them, as MLflow's own auth app answers it.

A server running MLflow's basic-auth app answers ``GET /api/3.0/mlflow/users/current/permissions`` for whoever is
logged in (every user may ask about themselves): their admin flag and each grant of every role they hold. The login
is the one MLflow's client sends (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, a token, ``~/.mlflow/credentials``).
A local store has no users, and a server without the auth app does not know the route (404): there is nothing to
check, and :func:`caller_access` says so with None. A server that knows the caller (``users/get``) but not the route
runs an MLflow too old to say which roles they hold: that is an error, never a pass.

Example:
    >>> access = caller_access(load_settings())  # doctest: +SKIP
    >>> access.is_admin, access.permission("registered_model")  # doctest: +SKIP
    (False, 'EDIT')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from reprise.capture.redact import redact_uri
from reprise.errors import TrackingError

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = ["CallerAccess", "Grant", "caller_access"]

_ROUTE: Final = "/api/3.0/mlflow/users/current/permissions"
_USER: Final = "/api/2.0/mlflow/users/get"
#: MLflow's permissions, weakest first (``NO_PERMISSIONS`` grants nothing).
_ORDER: Final = ("NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE")


@dataclass(frozen=True)
class Grant:
    """One permission a role of the caller holds.

    Attributes:
        resource_type: ``experiment``, ``registered_model``, ``workspace``...
        resource_pattern: What it covers (``*``: every resource of the type).
        permission: ``READ``, ``USE``, ``EDIT`` or ``MANAGE``.
        role: The MLflow role holding it (``reprise-maintainers``...).
    """

    resource_type: str
    resource_pattern: str
    permission: str
    role: str


@dataclass(frozen=True)
class CallerAccess:
    """The caller's rights on the team's server.

    Attributes:
        server: The server's URI (credentials redacted).
        username: The login used (empty with a token).
        is_admin: Whether the server's admin flag is set for them.
        grants: Every grant of every role they hold.
    """

    server: str
    username: str
    is_admin: bool
    grants: tuple[Grant, ...]

    def permission(self, resource_type: str) -> str:
        """The strongest permission the caller holds on every resource of ``resource_type`` (pattern ``*``)."""
        held = [g.permission for g in self.grants if g.resource_type == resource_type and g.resource_pattern == "*"]
        return max(held, key=lambda p: _ORDER.index(p) if p in _ORDER else 0, default="NO_PERMISSIONS")


def caller_access(settings: Settings) -> CallerAccess | None:
    """The caller's rights on the tracking server, or None when it has no logins (a local store, no auth app).

    Raises:
        TrackingError: The server refused the login (HTTP 401/403) or could not be asked.
    """
    uri = settings.tracking_uri
    if not uri.lower().startswith(("http://", "https://")):
        return None
    from mlflow.exceptions import MlflowException
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    from reprise.tracking._client import prepare_tracking_store

    prepare_tracking_store(settings)
    creds = get_default_host_creds(uri)  # type: ignore[no-untyped-call]
    try:
        reply = http_request(creds, _ROUTE, "GET", max_retries=0)  # type: ignore[no-untyped-call]
    except MlflowException as exc:
        raise TrackingError(
            f"cannot ask the tracking server {redact_uri(uri)} who you are: {exc.message}",
            hint="check that the server is up (reprise team serve)",
        ) from exc
    if reply.status_code == 404:
        _refuse_logins_without_roles(creds, uri)
        return None
    if reply.status_code in (401, 403):
        raise TrackingError(
            f"the tracking server {redact_uri(uri)} did not accept your login (HTTP {reply.status_code})",
            hint="export MLFLOW_TRACKING_USERNAME=<you> MLFLOW_TRACKING_PASSWORD=<your password>",
        )
    if reply.status_code != 200:
        raise TrackingError(
            f"the tracking server {redact_uri(uri)} answered HTTP {reply.status_code} to {_ROUTE}",
            hint="see the server's log",
        )
    body = reply.json()
    grants = tuple(
        Grant(str(g["resource_type"]), str(g["resource_pattern"]), str(g["permission"]), str(g.get("role_name", "")))
        for g in body.get("permissions", [])
    )
    return CallerAccess(redact_uri(uri), creds.username or "", bool(body.get("is_admin")), grants)


def _refuse_logins_without_roles(creds: Any, uri: str) -> None:
    """Pass a server without logins; refuse one that knows the caller but cannot list their grants."""
    from mlflow.utils.rest_utils import http_request

    if not creds.username:
        return
    params = {"username": creds.username}
    if http_request(creds, _USER, "GET", max_retries=0, params=params).status_code == 404:  # type: ignore[no-untyped-call]
        return
    raise TrackingError(
        f"the tracking server {redact_uri(uri)} has logins but does not list a member's roles (no {_ROUTE})",
        hint="run the team's server with the MLflow installed with Reprise (reprise team serve)",
    )
