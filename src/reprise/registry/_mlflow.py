"""The registry's boundary with MLflow: lookups that fail as NotFoundError listing what exists, other errors wrapped.

Every registry module talks to MLflow through the client of :func:`reprise.tracking._client.client_for` and these
helpers, so no ``MlflowException`` escapes and every "unknown X" names the known ones. The alias map is normalised
to ``{alias: int}``: MLflow gives int versions from SQLite and str versions over REST.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

from reprise.errors import NotFoundError, RegistryError
from reprise.tracking._client import quiet_downloads

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

    from reprise.registry.refs import ModelRef

__all__ = [
    "alias_map",
    "all_versions",
    "filter_literal",
    "known_models",
    "mlflow_errors",
    "quiet_downloads",
    "resolve_number",
    "resolve_version",
    "the_model",
    "the_version",
]

#: How many names a NotFoundError lists before "...".
_LISTED: Final = 20


@contextlib.contextmanager
def mlflow_errors(what: str, hint: str | None = None) -> Iterator[None]:
    """Turn an ``MlflowException`` raised inside the block into a :class:`RegistryError` saying ``what`` failed."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        raise RegistryError(f"{what}: {exc.message}", hint=hint) from exc


def known_models(client: MlflowClient) -> list[str]:
    """Names of every registered model, sorted."""
    names: list[str] = []
    token: str | None = None
    with mlflow_errors("cannot list registered models"):
        while True:
            page = client.search_registered_models(max_results=1000, page_token=token)
            names.extend(str(model.name) for model in page)
            token = page.token
            if not token:
                break
    return sorted(names)


def the_model(client: MlflowClient, name: str) -> RegisteredModel:
    """The registered model ``name``.

    Raises:
        NotFoundError: No such model; the message lists the known ones.
    """
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(f"cannot read registered model '{name}': {exc.message}") from exc
        known = known_models(client)
        listed = _listing(known) if known else "none yet"
        raise NotFoundError(
            f"no registered model '{name}'; known models: {listed}", hint="reprise registry list"
        ) from exc


def alias_map(model: RegisteredModel) -> dict[str, int]:
    """``{alias: version}`` of a registered model, versions as ints whatever the store returned."""
    aliases: dict[str, Any] = model.aliases or {}
    return {str(alias): int(version) for alias, version in sorted(aliases.items())}


def all_versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    """Every version of model ``name``, oldest first (aliases may be unset: read them from :func:`alias_map`)."""
    versions: list[ModelVersion] = []
    token: str | None = None
    literal = filter_literal(name)
    query = None if literal is None else f"name = {literal}"
    with mlflow_errors(f"cannot list the versions of '{name}'"):
        while True:
            page = client.search_model_versions(query, max_results=10000, page_token=token)
            versions.extend(version for version in page if version.name == name)
            token = page.token
            if not token:
                break
    return sorted(versions, key=lambda version: int(version.version))


def the_version(client: MlflowClient, name: str, version: int) -> ModelVersion:
    """Version ``version`` of model ``name``.

    Raises:
        NotFoundError: No such model or version; the message lists the known ones.
    """
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(f"cannot read {name} v{version}: {exc.message}") from exc
        the_model(client, name)  # an unknown model says so, listing models
        numbers = [str(found.version) for found in all_versions(client, name)]
        listed = _listing(numbers) if numbers else "none yet"
        raise NotFoundError(
            f"model '{name}' has no version {version}; versions: {listed}", hint=f"reprise registry versions {name}"
        ) from exc


def resolve_version(client: MlflowClient, ref: ModelRef) -> ModelVersion:
    """The version a reference names: its number, its alias, or (bare name) the latest version.

    Raises:
        NotFoundError: The model, version or alias does not exist; the message lists the known ones.
    """
    return the_version(client, ref.name, resolve_number(client, ref))


def resolve_number(client: MlflowClient, ref: ModelRef) -> int:
    """The version number a reference names, without reading the version itself when an alias names it.

    Raises:
        NotFoundError: The model or alias does not exist, or the model has no version; the message lists the known
            ones. (A version number is returned as given: :func:`resolve_version` checks it exists.)
    """
    if ref.version is not None:
        return ref.version
    model = the_model(client, ref.name)
    if ref.alias is None:
        versions = all_versions(client, ref.name)
        if not versions:
            raise NotFoundError(f"model '{ref.name}' has no versions yet", hint="reprise registry register RUN NAME")
        return int(versions[-1].version)
    aliases = alias_map(model)
    if ref.alias not in aliases:
        listed = _listing([f"{alias} → v{version}" for alias, version in aliases.items()]) if aliases else "none"
        raise NotFoundError(
            f"model '{ref.name}' has no alias '{ref.alias}'; aliases: {listed}",
            hint=f"reprise registry versions {ref.name}",
        )
    return aliases[ref.alias]


def filter_literal(value: str) -> str | None:
    """``value`` as a string literal of an MLflow search filter, or None when it cannot be one.

    MLflow's filter parser has no escapes (a backslash before a quote silently matches nothing) but takes double
    quotes: a value with both kinds of quote, or a backslash, is not written, and the caller filters on its side.
    """
    if "\\" in value:
        return None
    if "'" not in value:
        return f"'{value}'"
    return f'"{value}"' if '"' not in value else None


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown}, ... ({len(names)} in all)"
