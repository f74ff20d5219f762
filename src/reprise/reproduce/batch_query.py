"""Which targets a batch re-verifies: a small query grammar, resolved against the registry, the releases and lineage.

=======================  ====================================================================================
QUERY                    selects
=======================  ====================================================================================
``alias:ALIAS``          every model version holding ALIAS, in every registered model (``alias:production``)
``alias:MODEL@ALIAS``    the version of MODEL holding ALIAS (``alias:churn@staging``); MODEL and ALIAS may be
                         shell patterns: ``alias:churn@*`` is every aliased version of churn, ``alias:*`` of all
``env:ENV``              every release active in environment ENV now (``env:production``; ``env:*``: in any)
``downstream:REF``       what ships downstream of REF in lineage (``downstream:data:raw@v3``): its releases,
                         unified versions and model versions, each verified once, through the outermost
                         (a model version inside a selected release is re-verified by the release's reproduction,
                         which records a verdict for it too); runs alone are left out, re-runs of reproductions
                         being runs downstream of the same data
any target               anything ``reprise reproduce`` takes (a run id, ``models:/NAME@ALIAS``, ``version:NAME``,
                         ``data:NAME``, ``release:NAME@VERSION``) selects itself, as written
=======================  ====================================================================================

Several queries are one batch: their targets in the order given, each once. A malformed query is a
:class:`~reprise.errors.ConfigError` (exit 2) and a query that selects nothing a :class:`~reprise.errors.NotFoundError`
(exit 3), each one line naming the query, before any worker starts. Aliases and environments are read once, when the
batch is planned: every task verifies the same model version even if the alias moves meanwhile.

Example:
    >>> select_targets(["alias:production", "env:production"], settings=load_settings())  # doctest: +SKIP
    ('model:churn/3', 'model:fraud/7', 'release:churn@1.2.0')
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Final

from reprise.errors import ConfigError, LineageError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reprise.config import Settings

__all__ = ["QUERY_GRAMMAR", "select_targets"]

#: One line for hints and ``--help``.
QUERY_GRAMMAR: Final = (
    "alias:[MODEL@]ALIAS, env:ENV, downstream:REF, or a target (run id, models:/NAME@ALIAS, version:NAME, "
    "data:NAME, release:NAME@VERSION)"
)
#: What ships, outermost last: the kinds ``downstream:`` selects.
_SHIPPED: Final = ("model", "version", "release")


def select_targets(queries: Sequence[str], *, settings: Settings) -> tuple[str, ...]:
    """The targets ``queries`` select (see the module's table), in the order of the queries, each once.

    Args:
        queries: One or more queries.
        settings: Project settings (the registry, the metadata store and the environments they name).

    Returns:
        REFs ``reprise reproduce`` takes: ``model:NAME/N``, ``release:NAME@VERSION``, ``version:NAME``, or a target
        as it was written.

    Raises:
        ConfigError: No query, or one that is neither a query nor a target, or names an unknown environment.
        NotFoundError: A query selects nothing (no version holds the alias, nothing is active there, lineage knows
            nothing downstream), or a target names a model alias that does not exist.
    """
    from reprise.versioning.refs import resolve_ref

    if not queries:
        raise ConfigError("a batch needs at least one query", hint=f"give one of: {QUERY_GRAMMAR}")
    chosen: dict[str, str] = {}
    for query in queries:
        text = query.strip()
        kind, _, rest = text.partition(":")
        try:
            if kind == "alias":
                found = [(ref, ref) for ref in _aliased(text, rest, settings)]
            elif kind == "env":
                found = [(ref, ref) for ref in _active(text, rest, settings)]
            elif kind == "downstream":
                found = [(ref, ref) for ref in _downstream(text, rest, settings)]
            else:
                found = [(resolve_ref(text, settings=settings), text)]
        except LineageError as exc:
            raise ConfigError(f"{query!r} is not a batch query: {exc.message}", hint=f"give {QUERY_GRAMMAR}") from exc
        for canonical, written in found:
            chosen.setdefault(canonical, written)
    return tuple(chosen.values())


def _aliased(query: str, pattern: str, settings: Settings) -> list[str]:
    from reprise.registry.catalog import list_models

    model, _, alias = pattern.rpartition("@")
    model = model or "*"
    if not alias:
        raise ConfigError(f"{query!r} names no alias", hint="e.g. alias:production or alias:churn@staging")
    found = sorted(
        (summary.name, version)
        for summary in list_models(settings=settings)
        if fnmatchcase(summary.name, model)
        for name, version in summary.aliases.items()
        if fnmatchcase(name, alias)
    )
    if not found:
        which = "any registered model" if model == "*" else f"a registered model matching {model!r}"
        raise NotFoundError(
            f"{query!r} selects nothing: no version of {which} holds an alias matching {alias!r}",
            hint="see reprise registry list",
        )
    return list(dict.fromkeys(f"model:{name}/{version}" for name, version in found))


def _active(query: str, environment: str, settings: Settings) -> list[str]:
    from reprise.store.db import open_store
    from reprise.store.releases import active_releases

    if not any(char in environment for char in "*?[") and environment not in settings.environments:
        raise ConfigError(
            f"{query!r}: {environment!r} is not an environment (configured: {' < '.join(settings.environments)})",
            hint="use one of them, or env:* for every environment",
        )
    rows = active_releases(open_store(settings))
    found = sorted({f"release:{row.name}@{row.version}" for row in rows if fnmatchcase(row.environment, environment)})
    if not found:
        raise NotFoundError(
            f"{query!r} selects nothing: no release is active in {environment}",
            hint="see reprise release list; reprise release promote NAME@VERSION --to ENV",
        )
    return found


def _downstream(query: str, ref: str, settings: Settings) -> list[str]:
    from reprise.store.db import open_store
    from reprise.store.lineage import has_node, walk
    from reprise.versioning.refs import resolve_ref

    start = resolve_ref(ref, settings=settings)
    engine = open_store(settings)
    if not has_node(engine, start):
        raise NotFoundError(f"{query!r} selects nothing: lineage knows nothing of {start}", hint="check the REF")
    found = [reached.ref for reached in walk(engine, start, "down", kinds=_SHIPPED)]
    inside = {
        reached.ref
        for outer in found
        if not outer.startswith("model:")
        for reached in walk(engine, outer, "up", kinds=("model", "version"))
    }
    selected = [ref for ref in found if ref not in inside]
    if not selected:
        raise NotFoundError(
            f"{query!r} selects nothing: no model version, unified version or release is downstream of {start}",
            hint=f"see reprise lineage impact {start}",
        )
    return selected
