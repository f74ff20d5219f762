"""``reprise team audit URL``: walk every route family of the team's server as anonymous, a reader and an editor.

A known class of bug in MLflow auth plugins is a route left unchecked (an artifact route most often): the REST API
refuses, the artifact proxy or the UI's ``ajax-api`` twin answers. The audit does not trust a route list of the
server's own; it sends real requests and reads the status codes:

1. as the admin (``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``) it creates a scratch experiment, run,
   artifact, registered model, version and alias, and two throwaway members, a reader and an editor;
2. each identity sends every probe of :data:`PROBES` (each REST route also under ``/ajax-api``), destructive ones last;
3. an answer (2xx) from an identity below the probe's level is a **leak**; a refusal (401/403) of an identity at or
   above it is a **refusal** (a role that does not work, not a hole);
4. the scratch objects and members are deleted.

Levels: anonymous 0 < reader 1 (``read``) < editor 2 (``edit``) < maintainer 3 (``delete``) < admin 4 (``admin``).

Example:
    >>> report = audit_server("http://127.0.0.1:5000", credentials_from_env())    # doctest: +SKIP
    >>> [f"{leak.identity} {leak.method} {leak.path}" for leak in report.leaks]     # doctest: +SKIP
    []
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from reprise.errors import TrackingError
from reprise.team._http import Credentials, Reply, call
from reprise.team.roles import add_member

__all__ = ["LEVELS", "PROBES", "AuditFinding", "AuditReport", "Probe", "audit_server"]

#: What each level may do, by name; an identity's level is the highest it holds.
LEVELS: Final[dict[str, int]] = {"anonymous": 0, "read": 1, "edit": 2, "delete": 3, "admin": 4}
_IDENTITY_LEVELS: Final[dict[str, int]] = {"anonymous": 0, "reader": 1, "editor": 2}


@dataclass(frozen=True)
class Probe:
    """One request and the least level that may make it.

    Attributes:
        family: The route family (experiments, runs, metrics, artifacts, registered-models, model-versions, users,
            server).
        method: The HTTP method.
        path: The route; ``{exp}``, ``{run}``, ``{art}`` (the run's artifact folder in the proxy), ``{model}``,
            ``{version}`` and ``{who}`` are filled in.
        need: ``read``, ``edit``, ``delete`` or ``admin``.
        params: Query parameters (templated like ``path``).
        body: A JSON body (templated like ``path``), or raw bytes for an upload.
    """

    family: str
    method: str
    path: str
    need: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None


_R, _R3 = "/api/2.0/mlflow", "/api/3.0/mlflow"
_A = "/api/2.0/mlflow-artifacts/artifacts"
_MV = {"name": "{model}", "version": "{version}"}

#: The probes, destructive ones last (a leak there may remove what later probes need).
PROBES: Final[tuple[Probe, ...]] = (
    Probe("server", "GET", "/version", "read"),
    Probe("experiments", "GET", f"{_R}/experiments/get", "read", {"experiment_id": "{exp}"}),
    Probe("experiments", "POST", f"{_R}/experiments/search", "read", body={"max_results": 5}),
    Probe("runs", "GET", f"{_R}/runs/get", "read", {"run_id": "{run}"}),
    Probe("runs", "POST", f"{_R}/runs/search", "read", body={"experiment_ids": ["{exp}"]}),
    Probe("metrics", "GET", f"{_R}/metrics/get-history", "read", {"run_id": "{run}", "metric_key": "m"}),
    Probe("artifacts", "GET", f"{_R}/artifacts/list", "read", {"run_id": "{run}"}),
    Probe("artifacts", "GET", f"{_A}/{{art}}/probe.txt", "read"),
    Probe("artifacts", "GET", _A, "read", {"path": "{art}"}),
    Probe("artifacts", "GET", "/get-artifact", "read", {"path": "probe.txt", "run_uuid": "{run}"}),
    Probe("registered-models", "GET", f"{_R}/registered-models/get", "read", {"name": "{model}"}),
    Probe("registered-models", "GET", f"{_R}/registered-models/search", "read"),
    Probe("registered-models", "GET", f"{_R}/registered-models/alias", "read", {"name": "{model}", "alias": "audit"}),
    Probe("model-versions", "GET", f"{_R}/model-versions/get", "read", _MV),
    Probe("model-versions", "GET", f"{_R}/model-versions/search", "read", {"filter": "name='{model}'"}),
    Probe("model-versions", "GET", f"{_R}/model-versions/get-download-uri", "read", _MV),
    Probe("model-versions", "GET", "/model-versions/get-artifact", "read", {**_MV, "path": "probe.txt"}),
    Probe(
        "experiments",
        "POST",
        f"{_R}/experiments/set-experiment-tag",
        "edit",
        body={"experiment_id": "{exp}", "key": "k", "value": "{who}"},
    ),
    Probe("runs", "POST", f"{_R}/runs/create", "edit", body={"experiment_id": "{exp}"}),
    Probe(
        "runs",
        "POST",
        f"{_R}/runs/log-batch",
        "edit",
        body={"run_id": "{run}", "tags": [{"key": "by", "value": "{who}"}]},
    ),
    Probe("runs", "POST", f"{_R}/runs/set-tag", "edit", body={"run_id": "{run}", "key": "k", "value": "{who}"}),
    Probe("artifacts", "PUT", f"{_A}/{{art}}/by-{{who}}.txt", "edit", body=b"probe"),
    Probe(
        "registered-models",
        "POST",
        f"{_R}/registered-models/set-tag",
        "edit",
        body={"name": "{model}", "key": "k", "value": "{who}"},
    ),
    Probe("registered-models", "POST", f"{_R}/registered-models/alias", "edit", body={**_MV, "alias": "{who}"}),
    Probe(
        "model-versions",
        "POST",
        f"{_R}/model-versions/create",
        "edit",
        body={"name": "{model}", "source": "mlflow-artifacts:/{art}", "run_id": "{run}"},
    ),
    Probe("model-versions", "POST", f"{_R}/model-versions/set-tag", "edit", body={**_MV, "key": "k", "value": "{who}"}),
    # MLflow lets any member who may create things list the roster (to pick reviewers); it grants nothing itself.
    Probe("users", "GET", f"{_R}/users/list", "edit"),
    Probe(
        "users",
        "POST",
        f"{_R}/users/create",
        "admin",
        body={"username": "reprise-audit-x-{who}-{tag}", "password": "{tag}-Xy7-long-pw"},
    ),
    Probe(
        "users",
        "POST",
        f"{_R3}/roles/create",
        "admin",
        body={"workspace": "default", "name": "reprise-audit-x-{who}-{tag}"},
    ),
    Probe(
        "users",
        "POST",
        f"{_R3}/users/permissions/grant",
        "delete",
        body={"username": "{user}", "resource_type": "experiment", "resource_id": "{exp}", "permission": "MANAGE"},
    ),
    Probe("artifacts", "DELETE", f"{_A}/{{art}}/probe.txt", "delete"),
    Probe(
        "registered-models",
        "DELETE",
        f"{_R}/registered-models/alias",
        "delete",
        body={"name": "{model}", "alias": "audit"},
    ),
    Probe("model-versions", "DELETE", f"{_R}/model-versions/delete", "delete", body=_MV),
    Probe("registered-models", "DELETE", f"{_R}/registered-models/delete", "delete", body={"name": "{model}"}),
    Probe("runs", "POST", f"{_R}/runs/delete", "delete", body={"run_id": "{run}"}),
    Probe("experiments", "POST", f"{_R}/experiments/delete", "delete", body={"experiment_id": "{exp}"}),
)


@dataclass(frozen=True)
class AuditFinding:
    """One probe whose answer contradicts the identity's level.

    Attributes:
        identity: ``anonymous``, ``reader`` or ``editor``.
        family: The route family.
        method: The HTTP method.
        path: The route as sent (ids filled in).
        need: The level the route needs.
        status: What the server answered.
    """

    identity: str
    family: str
    method: str
    path: str
    need: str
    status: int


@dataclass(frozen=True)
class AuditReport:
    """What the audit found.

    Attributes:
        url: The server audited.
        requests: How many probes were sent.
        leaks: Routes that answered an identity that should have been refused.
        refusals: Routes that refused an identity that should have been allowed.
    """

    url: str
    requests: int
    leaks: tuple[AuditFinding, ...]
    refusals: tuple[AuditFinding, ...]

    @property
    def ok(self) -> bool:
        """No route answered when it should have refused."""
        return not self.leaks


def audit_server(url: str, admin: Credentials, *, probes: tuple[Probe, ...] = PROBES) -> AuditReport:
    """Probe every route of ``probes`` (and its ``/ajax-api`` twin) as anonymous, a reader and an editor.

    Args:
        url: The team's server.
        admin: An admin's login (it creates the scratch objects and the two throwaway members).
        probes: The routes to walk.

    Returns:
        The leaks and refusals found.

    Raises:
        TrackingError: The server cannot be reached, or refused to create the scratch objects.
    """
    tag = uuid.uuid4().hex[:10]
    identities: dict[str, Credentials | None] = {"anonymous": None}
    for role in ("reader", "editor"):
        member = Credentials(f"reprise-audit-{role}-{tag}", secrets.token_urlsafe(18))
        add_member(url, admin, member.username, member.password, role)
        identities[role] = member
    context = _scratch(url, admin, tag)
    leaks: list[AuditFinding] = []
    refusals: list[AuditFinding] = []
    sent = 0
    try:
        for who, login in identities.items():
            context.update(who=who, user=login.username if login is not None else "anonymous")
            for probe in probes:
                for path in _variants(probe.path):
                    reply = call(
                        url,
                        probe.method,
                        _fill(path, context),
                        auth=login,
                        params=_fill(probe.params, context) or None,
                        body=None if isinstance(probe.body, bytes) else _fill(probe.body, context),
                        data=probe.body if isinstance(probe.body, bytes) else None,
                    )
                    sent += 1
                    level, need = _IDENTITY_LEVELS[who], LEVELS[probe.need]
                    finding = AuditFinding(
                        who, probe.family, probe.method, _fill(path, context), probe.need, reply.status
                    )
                    if 200 <= reply.status < 300 and level < need:
                        leaks.append(finding)
                    elif reply.status in (401, 403) and level >= need:
                        refusals.append(finding)
    finally:
        _clean_up(url, admin, context, identities)
    return AuditReport(url=url, requests=sent, leaks=tuple(leaks), refusals=tuple(refusals))


def _scratch(url: str, admin: Credentials, tag: str) -> dict[str, str]:
    """As the admin: an experiment, a run with a metric and an artifact, a model, a version and an alias."""
    experiment = _created(
        call(url, "POST", f"{_R}/experiments/create", auth=admin, body={"name": f"reprise-audit-{tag}"})
    )
    exp = str(experiment["experiment_id"])
    location = _created(call(url, "GET", f"{_R}/experiments/get", auth=admin, params={"experiment_id": exp}))
    root = str(location["experiment"]["artifact_location"]).partition(":")[2].strip("/")
    run = str(
        _created(call(url, "POST", f"{_R}/runs/create", auth=admin, body={"experiment_id": exp}))["run"]["info"][
            "run_id"
        ]
    )
    metric = {"key": "m", "value": 1.0, "timestamp": 0, "step": 0}
    _created(call(url, "POST", f"{_R}/runs/log-batch", auth=admin, body={"run_id": run, "metrics": [metric]}))
    art = f"{root}/{run}/artifacts"
    _created(call(url, "PUT", f"{_A}/{art}/probe.txt", auth=admin, data=b"probe"))
    model = f"reprise-audit-{tag}"
    _created(call(url, "POST", f"{_R}/registered-models/create", auth=admin, body={"name": model}))
    created = _created(
        call(
            url,
            "POST",
            f"{_R}/model-versions/create",
            auth=admin,
            body={"name": model, "source": f"mlflow-artifacts:/{art}", "run_id": run},
        )
    )
    version = str(created["model_version"]["version"])
    alias = {"name": model, "alias": "audit", "version": version}
    _created(call(url, "POST", f"{_R}/registered-models/alias", auth=admin, body=alias))
    return {"exp": exp, "run": run, "art": art, "model": model, "version": version, "tag": tag}


def _clean_up(url: str, admin: Credentials, context: dict[str, str], identities: dict[str, Credentials | None]) -> None:
    call(url, "DELETE", f"{_R}/registered-models/delete", auth=admin, body={"name": context["model"]})
    call(url, "POST", f"{_R}/experiments/delete", auth=admin, body={"experiment_id": context["exp"]})
    for who, login in identities.items():
        if login is not None:
            call(url, "DELETE", f"{_R}/users/delete", auth=admin, body={"username": login.username})
        leaked = f"reprise-audit-x-{who}-{context['tag']}"  # created only if users/create leaked
        call(url, "DELETE", f"{_R}/users/delete", auth=admin, body={"username": leaked})


def _created(reply: Reply) -> Any:
    if not 200 <= reply.status < 300:
        raise TrackingError(
            f"the audit could not create its scratch objects (HTTP {reply.status}): {reply.body[:200]!r}",
            hint="run the audit as the server's admin (MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD)",
        )
    return reply.json()


def _variants(path: str) -> tuple[str, ...]:
    """A REST route and its twin under ``/ajax-api`` (the UI's copy, guarded separately)."""
    if path.startswith("/api/"):
        return path, "/ajax-api/" + path.removeprefix("/api/")
    return (path,)


def _fill(template: Any, context: dict[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**context)
    if isinstance(template, dict):
        return {key: _fill(value, context) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(item, context) for item in template]
    return template
