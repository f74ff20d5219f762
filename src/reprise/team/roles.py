"""Readers, editors and maintainers, mapped onto MLflow's own permissions (roles of its basic-auth app).

The team's server refuses every user by default (``default_permission = NO_PERMISSIONS``); a member's rights come
from one of three MLflow roles in the server's default workspace, created on first use:

============  ============================  ===============================================================
Reprise role  MLflow grants                 what it allows
============  ============================  ===============================================================
reader        READ on every experiment      read runs, metrics, artifacts, models, versions and aliases
              and registered model
editor        EDIT on both, USE on the      also create experiments and runs, log, upload artifacts,
              workspace                     register models, create versions, move aliases
maintainer    MANAGE on both, USE on the    also delete, and grant or revoke permissions on what exists
              workspace
============  ============================  ===============================================================

MLflow also gives whoever creates an experiment or a registered model MANAGE on it. Releases, revocations and keys
live in Reprise's metadata store, out of MLflow's reach: :mod:`reprise.versioning.maintainers` asks the server for
the caller's grants and lets only admins and maintainers (MANAGE on every registered model) promote to the last
environment or revoke.

Example:
    >>> admin = credentials_from_env()                                        # doctest: +SKIP
    >>> add_member("http://127.0.0.1:5000", admin, "ana", "a-long-password", "reader")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from reprise.errors import ConfigError, TrackingError
from reprise.team._http import Credentials, Reply, call
from reprise.versioning.maintainers import ROLE_PERMISSIONS

__all__ = ["ROLES", "TeamRole", "add_member", "ensure_roles"]

_WORKSPACE: Final = "default"
_RESOURCES: Final = ("experiment", "registered_model")


@dataclass(frozen=True)
class TeamRole:
    """One Reprise role and the MLflow grants it stands for.

    Attributes:
        name: ``reader``, ``editor`` or ``maintainer``.
        permission: The MLflow permission on every experiment and registered model.
        creates: Whether members may create experiments, runs and models (MLflow's workspace ``USE``).
    """

    name: str
    permission: str
    creates: bool

    @property
    def mlflow_role(self) -> str:
        """The name of the MLflow role that carries it."""
        return f"reprise-{self.name}s"


#: The three roles, weakest first (their permissions are the ones Reprise's own maintainer check reads back).
ROLES: Final[dict[str, TeamRole]] = {
    name: TeamRole(name, permission, creates=name != "reader") for name, permission in ROLE_PERMISSIONS.items()
}


def ensure_roles(url: str, admin: Credentials) -> dict[str, int]:
    """Create the three MLflow roles on the server if they are missing; return their MLflow ids by Reprise name.

    Raises:
        TrackingError: The server refused (``admin`` is not an admin) or did not answer.
    """
    listed = _checked(call(url, "GET", "/api/3.0/mlflow/roles/list", auth=admin, params={"workspace": _WORKSPACE}))
    existing = {role["name"]: int(role["id"]) for role in listed.json().get("roles", [])}
    ids: dict[str, int] = {}
    for role in ROLES.values():
        if role.mlflow_role in existing:
            ids[role.name] = existing[role.mlflow_role]
            continue
        created = _checked(
            call(
                url,
                "POST",
                "/api/3.0/mlflow/roles/create",
                auth=admin,
                body={"workspace": _WORKSPACE, "name": role.mlflow_role, "description": f"Reprise {role.name}s"},
            )
        )
        role_id = int(created.json()["role"]["id"])
        grants = [(resource, role.permission) for resource in _RESOURCES]
        if role.creates:
            grants.append(("workspace", "USE"))
        for resource, permission in grants:
            body = {"role_id": role_id, "resource_type": resource, "resource_pattern": "*", "permission": permission}
            _checked(call(url, "POST", "/api/3.0/mlflow/roles/permissions/add", auth=admin, body=body))
        ids[role.name] = role_id
    return ids


def add_member(url: str, admin: Credentials, username: str, password: str, role: str) -> None:
    """Create user ``username`` (if new) and give them ``role`` alone among the Reprise roles.

    Args:
        url: The team's server.
        admin: An admin's login.
        username: The member.
        password: Their password (used only when the user is new).
        role: ``reader``, ``editor`` or ``maintainer``.

    Raises:
        ConfigError: ``role`` is not one of the three.
        TrackingError: The server refused or did not answer.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"use one of: {', '.join(ROLES)}")
    ids = ensure_roles(url, admin)
    found = call(url, "GET", "/api/2.0/mlflow/users/get", auth=admin, params={"username": username})
    if found.status == 404:
        body = {"username": username, "password": password}
        _checked(call(url, "POST", "/api/2.0/mlflow/users/create", auth=admin, body=body))
    else:
        _checked(found)
    held = _checked(call(url, "GET", "/api/3.0/mlflow/users/roles/list", auth=admin, params={"username": username}))
    held_ids = {int(item["id"]) for item in held.json().get("roles", [])}
    for name, role_id in ids.items():
        if name != role and role_id in held_ids:
            body_out = {"username": username, "role_id": role_id}
            _checked(call(url, "DELETE", "/api/3.0/mlflow/roles/unassign", auth=admin, body=body_out))
    if ids[role] not in held_ids:
        body_in = {"username": username, "role_id": ids[role]}
        _checked(call(url, "POST", "/api/3.0/mlflow/roles/assign", auth=admin, body=body_in))


def _checked(reply: Reply) -> Reply:
    if 200 <= reply.status < 300:
        return reply
    message = reply.json().get("message") or reply.body[:200].decode("utf-8", "replace")
    raise TrackingError(
        f"the team's server refused an admin request (HTTP {reply.status}): {' '.join(str(message).split())}",
        hint="log in as the server's admin (MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD)",
    )
