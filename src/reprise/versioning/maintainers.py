"""Who may change what the last environment runs, and what is trusted: the maintainers of the team's server.

MLflow's auth app guards MLflow's routes, but releases, revocations and signing keys are rows in Reprise's metadata
store, which members reach directly; so Reprise asks the tracking server who the caller is
(:func:`reprise.tracking.access.caller_access`) before it promotes or rolls back a release into the last environment,
revokes a release or a data version, or revokes a signing key. A maintainer is an admin of the server, or a member
holding ``MANAGE`` on every registered model (the ``maintainer`` role of :mod:`reprise.team.roles`). With a local
store, or a server without logins, there is one user and nothing to check.

Example:
    >>> require_maintainer("revoke data:raw@v3", settings=load_settings())  # doctest: +SKIP
    ReleaseGuardError: guard 'maintainer': revoke data:raw@v3 needs a maintainer of http://...; ana is an editor
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from reprise.errors import ReleaseGuardError

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = ["ROLE_PERMISSIONS", "require_maintainer"]

#: Reprise's team roles, weakest first, by the MLflow permission each holds on every experiment and registered model.
ROLE_PERMISSIONS: Final[dict[str, str]] = {"reader": "READ", "editor": "EDIT", "maintainer": "MANAGE"}


def require_maintainer(action: str, *, settings: Settings) -> None:
    """Refuse ``action`` unless the caller is a maintainer of the team's server (or there is no team server).

    No ``--force`` overrides it: it is a permission, not a guard on the release.

    Args:
        action: What is about to be done, as the message names it (``promote churn@1.2.0 to production``).
        settings: Project settings (their ``tracking_uri`` names the server).

    Raises:
        ReleaseGuardError: Guard ``maintainer``: the caller is not a maintainer; names their role and who can fix it.
        TrackingError: The server refused the login or did not answer.
    """
    from reprise.tracking.access import caller_access

    access = caller_access(settings)
    if access is None or access.is_admin:
        return
    held = access.permission("registered_model")
    if held == ROLE_PERMISSIONS["maintainer"]:
        return
    role = next((name for name, permission in ROLE_PERMISSIONS.items() if permission == held), None)
    article = "an" if role == "editor" else "a"
    holds = f"is {article} {role}" if role else "holds no team role"
    who = access.username or "USER"
    raise ReleaseGuardError(
        "maintainer",
        f"{action} needs a maintainer of the team's server {access.server}; {who} {holds}",
        hint=f"ask an admin to run: reprise team add-member {who} --role maintainer --url {access.server}",
    )
