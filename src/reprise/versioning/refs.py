"""The one readable grammar for the things Reprise knows, as users type them and as lineage stores them.

=============================  ==========================================================================
REF                            names
=============================  ==========================================================================
``data:raw@v1``                a data version (its name)
``pipeline:prep@1.2.0``        a feature-pipeline version
``fit:<id>``                   a fitted pipeline
``commit:<sha>``               a git commit (full or abbreviated, resolved in the project's repository)
``run:<id>``                   an MLflow run (also a bare 32-hex run id, or ``runs:/<id>``)
``model:clf/3``                a registered model version (also ``model:clf@staging``, ``models:/clf/3``,
                               ``models:/clf@staging``; an alias is resolved to the version it points at now)
``version:v1``                 a unified version
``release:clf@1.0.0``          a release
``reproduction:<id>``          a recorded reproduction
``artifact:<sha256>``          the exact content of a file (or a big folder) a run read or wrote
=============================  ==========================================================================

:func:`resolve_ref` turns what a user typed into the canonical REF lineage stores (aliases and short commits
resolved), so the same thing has one spelling in every table and every answer.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from reprise.errors import LineageError
from reprise.store.lineage import KINDS, node

if TYPE_CHECKING:
    from reprise.config import Settings

__all__ = ["GRAMMAR", "resolve_ref"]

#: One line per kind, for hints and ``--help``.
GRAMMAR: Final = (
    "data:NAME, pipeline:NAME@VERSION, run:ID, model:NAME/VERSION or model:NAME@ALIAS (models:/... too), "
    "version:NAME, release:NAME@VERSION, commit:SHA"
)

_RUN_ID: Final = re.compile(r"^[0-9a-f]{32}$")
_SHA: Final = re.compile(r"^[0-9a-f]{4,64}$")


def resolve_ref(text: str, *, settings: Settings | None = None) -> str:
    """The canonical REF of what ``text`` names (see the module's table).

    Args:
        text: What the user typed.
        settings: Project settings, needed to resolve a model alias or an abbreviated commit.

    Returns:
        ``kind:key``, e.g. ``model:clf/3`` for ``models:/clf@staging`` while staging points at version 3.

    Raises:
        LineageError: ``text`` is not a REF.
        NotFoundError: A model alias or a commit that does not exist.
    """
    raw = text.strip()
    if _RUN_ID.match(raw) or raw.startswith("runs:/"):
        return node("run", raw.removeprefix("runs:/").split("/", 1)[0])
    if raw.startswith("models:/"):
        return _model(raw, settings)
    kind, sep, key = raw.partition(":")
    if not sep or kind not in KINDS or not key:
        raise LineageError(f"{text!r} is not a reference", hint=f"write one of: {GRAMMAR}")
    if kind == "model":
        return _model(key, settings)
    if kind == "commit" and _SHA.match(key) and len(key) < 40 and settings is not None:
        return node("commit", _full_commit(settings, key))
    return node(kind, key)


def _model(text: str, settings: Settings | None) -> str:
    from reprise.config import load_settings
    from reprise.registry.refs import parse_model_ref
    from reprise.registry.resolve import target_version

    ref = parse_model_ref(text)
    version = ref.version
    if version is None:
        version = target_version(settings or load_settings(), ref.name, ref.alias)
    return node("model", f"{ref.name}/{version}")


def _full_commit(settings: Settings, short: str) -> str:
    from reprise._git import run_git
    from reprise.errors import NotFoundError

    found = run_git(settings.project_dir, ["rev-parse", "--verify", "-q", f"{short}^{{commit}}"], check=False)
    if found.returncode != 0:
        raise NotFoundError(f"commit {short} is not in the project's repository", hint="give a commit git knows")
    return found.stdout.decode().strip()
