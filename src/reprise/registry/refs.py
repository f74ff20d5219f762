"""Model references as users write them: ``name@alias``, ``name/3``, ``name`` (latest), ``models:/...`` too.

Example:
    >>> parse_model_ref("obesity_classifier@champion")
    ModelRef(name='obesity_classifier', version=None, alias='champion')
    >>> str(parse_model_ref("models:/obesity_classifier/3"))
    'obesity_classifier/3'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from reprise.errors import RegistryError

__all__ = ["LEGACY_STAGES", "ModelRef", "parse_model_ref", "parse_version_ref", "version_ref"]

#: MLflow's stage words in a ``models:/name/Production`` URI, read as the aliases Reprise uses for them.
LEGACY_STAGES: Final[dict[str, str]] = {"staging": "staging", "production": "production"}

_ALIAS: Final = re.compile(r"^[\w\-]+$")
_HINT: Final = "write NAME@ALIAS, NAME/VERSION or NAME (its latest version), e.g. obesity_classifier@champion"


@dataclass(frozen=True)
class ModelRef:
    """A registered model and, at most, one version number or one alias.

    Attributes:
        name: The registered model.
        version: A version number, or None.
        alias: An alias, or None. Neither: the latest version.
    """

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name if self.version is None else f"{self.name}/{self.version}"


def parse_model_ref(text: str) -> ModelRef:
    """Parse ``name@alias``, ``name/3``, ``name/latest``, ``name/Production`` or ``name`` (``models:/`` optional).

    Raises:
        RegistryError: The text is not a model reference.
    """
    body = text.strip().removeprefix("models:/")
    if "@" in body:
        name, _, alias = body.rpartition("@")
        if not name or "/" in name or not _ALIAS.match(alias):
            raise RegistryError(f"cannot read model reference {text!r}", hint=_HINT)
        return ModelRef(name=name, alias=alias)
    if "/" in body:
        name, _, tail = body.rpartition("/")
        if not name or "/" in name or not tail:
            raise RegistryError(f"cannot read model reference {text!r}", hint=_HINT)
        if tail.lower() == "latest":
            return ModelRef(name=name)
        if tail.lower() in LEGACY_STAGES:
            return ModelRef(name=name, alias=LEGACY_STAGES[tail.lower()])
        version = parse_version_ref(tail)
        if isinstance(version, str):
            raise RegistryError(f"cannot read model reference {text!r}: {tail!r} is not a version", hint=_HINT)
        return ModelRef(name=name, version=version)
    if not body or ":" in body:
        raise RegistryError(f"cannot read model reference {text!r}", hint=_HINT)
    return ModelRef(name=body)


def parse_version_ref(text: str | int) -> int | str:
    """Read a version as the CLI takes it: ``3`` or ``v3`` is a version number, ``@champion`` or ``champion`` an alias.

    Raises:
        RegistryError: Neither a positive number nor an alias name.
    """
    if isinstance(text, int):
        if text < 1:
            raise RegistryError(f"version {text} is not a positive number", hint="versions start at 1")
        return text
    value = text.strip().removeprefix("@")
    digits = value[1:] if value[:1] in ("v", "V") and value[1:].isdigit() else value
    if digits.isdigit():
        return parse_version_ref(int(digits))
    if _ALIAS.match(value):
        return value
    raise RegistryError(f"{text!r} is neither a version number nor an alias", hint="write 3, v3 or an alias name")


def version_ref(name: str, version: str | int) -> ModelRef:
    """The reference to one version of ``name``: a number, ``latest``, or an alias (``champion``, ``@staging``).

    Raises:
        RegistryError: Neither a positive number, ``latest`` nor an alias name.
    """
    parsed = parse_version_ref(version)
    if isinstance(parsed, int):
        return ModelRef(name=name, version=parsed)
    return ModelRef(name=name) if parsed.lower() == "latest" else ModelRef(name=name, alias=parsed)
