"""The canonical spec of a feature pipeline: what it is made of, as plain JSON, so equal content digests equal.

A spec names every estimator by its public import path and writes out every constructor parameter, defaults included
(``get_params(deep=False)``), recursively: ``{"type": "sklearn.preprocessing.StandardScaler", "params": {"copy":
true, "with_mean": true, "with_std": true}}``. Values that JSON cannot tell apart from others are tagged with one key:
``{"tuple": [...]}``, ``{"dict": {...}}``, ``{"float": "nan"}``, ``{"callable": "numpy.log1p"}`` (a class or function,
by import path), ``{"array": [...], "dtype": "float64"}`` and ``{"slice": [start, stop, step]}``. Fitted state never
enters a spec, so the digest covers the recipe only.

The same language is the declarative form: a list of steps ``{"name": ..., "type": ..., "params": {...}}`` whose
params may leave defaults out. A list of steps is built into a scikit-learn ``Pipeline`` and then written out like
any object, so ``[{"name": "scale", "type": "sklearn.preprocessing.StandardScaler"}]`` and
``Pipeline([("scale", StandardScaler())])`` have the same spec and digest. Building a spec constructs only classes
that derive from scikit-learn's ``BaseEstimator``: a spec read back from a shared store is data, not code to run.

Example:
    >>> spec = spec_of([{"name": "scale", "type": "sklearn.preprocessing.StandardScaler"}])  # doctest: +SKIP
    >>> build_pipeline(spec)                                                                # doctest: +SKIP
    Pipeline(steps=[('scale', StandardScaler())])
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any, Final

from reprise.errors import MissingExtraError, VersioningError

__all__ = ["build_pipeline", "load_pipeline_source", "spec_of"]

_STEP_KEYS: Final = frozenset({"name", "type", "params"})
_HINT: Final = (
    "give a scikit-learn Pipeline or ColumnTransformer, or a list of steps "
    '{"name": ..., "type": "sklearn.preprocessing.StandardScaler", "params": {...}}'
)


def spec_of(pipeline_or_steps: Any) -> dict[str, Any]:
    """The canonical spec of a scikit-learn estimator (``Pipeline``, ``ColumnTransformer``...) or a list of steps.

    Args:
        pipeline_or_steps: The estimator (only its parameters count), or declarative steps.

    Returns:
        The spec: plain JSON data (``reprise._canonical.digest`` of it is the pipeline's content digest).

    Raises:
        VersioningError: A step is malformed, a type cannot be imported by name, or a parameter has no JSON form
            (the message names where it is).
        MissingExtraError: scikit-learn is not installed.
    """
    base = _base_estimator()
    if isinstance(pipeline_or_steps, list):
        pipeline_or_steps = _from_steps(pipeline_or_steps)
    if not isinstance(pipeline_or_steps, base):
        raise VersioningError(f"cannot version a {type(pipeline_or_steps).__name__} as a pipeline", hint=_HINT)
    spec = _encode(pipeline_or_steps, "pipeline")
    assert isinstance(spec, dict)  # an estimator encodes to a {"type", "params"} node
    return spec


def build_pipeline(spec: dict[str, Any]) -> Any:
    """A new, unfitted estimator from a spec (the inverse of :func:`spec_of`).

    Args:
        spec: A spec, as :func:`spec_of` returns it.

    Returns:
        The estimator.

    Raises:
        VersioningError: The spec is malformed or names a type that is not a scikit-learn estimator.
    """
    _base_estimator()
    return _decode(spec, "pipeline")


def load_pipeline_source(source: str, project_dir: Path) -> Any:
    """What ``reprise pipeline version`` versions: steps from a JSON or YAML file, or a Python ``module:attribute``.

    Args:
        source: A ``.json``, ``.yaml`` or ``.yml`` file holding a list of steps, or ``module:attribute`` naming a
            scikit-learn estimator or a list of steps in a module importable from the project folder
            (``features:pipeline`` for ``pipeline`` in ``features.py``).
        project_dir: The project folder (put first on the import path while the module is imported).

    Returns:
        The steps or the estimator, for :func:`spec_of`.

    Raises:
        VersioningError: The file does not parse or holds no list, or the module or attribute cannot be imported.
    """
    path = Path(source)
    if path.suffix.lower() in (".json", ".yaml", ".yml"):
        import yaml

        try:
            text = path.read_text(encoding="utf-8")
            steps = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else " ".join(str(exc).split())
            raise VersioningError(f"cannot read the pipeline steps in {source}: {reason}", hint=_HINT) from exc
        if not isinstance(steps, list):
            raise VersioningError(f"{source} does not hold a list of steps", hint=_HINT)
        return steps
    module, sep, attribute = source.partition(":")
    if not sep or not module or not attribute:
        raise VersioningError(
            f"{source!r} is neither a .json/.yaml file nor module:attribute",
            hint="reprise pipeline version prep steps.yaml  (or: reprise pipeline version prep features:pipeline)",
        )
    sys.path.insert(0, str(project_dir))
    try:
        _reload_if_in_project(module, project_dir)
        found = _lookup(module, attribute)
    except Exception as exc:  # importing user code may raise anything
        raise VersioningError(f"importing {module} failed: {type(exc).__name__}: {exc}", hint=_HINT) from exc
    finally:
        sys.path.remove(str(project_dir))
    if found is None:
        raise VersioningError(f"cannot import {attribute} from {module}", hint="check the module:attribute")
    return found


def _reload_if_in_project(module: str, project_dir: Path) -> None:
    """Re-read a project module imported earlier in this process (a notebook), so its current source is versioned."""
    loaded = sys.modules.get(module)
    where = getattr(loaded, "__file__", None)
    if loaded is not None and where is not None and Path(where).resolve().is_relative_to(project_dir.resolve()):
        importlib.reload(loaded)


def _base_estimator() -> Any:
    try:
        from sklearn.base import BaseEstimator
    except ImportError as exc:
        raise MissingExtraError("scikit-learn", "ml") from exc
    return BaseEstimator


def _from_steps(steps: list[Any]) -> Any:
    from sklearn.pipeline import Pipeline

    if not steps:
        raise VersioningError("a pipeline needs at least one step", hint=_HINT)
    built = []
    for index, step in enumerate(steps):
        where = f"step {index + 1}"
        if not isinstance(step, dict) or not isinstance(step.get("name"), str) or not isinstance(step.get("type"), str):
            raise VersioningError(f"{where} is not a mapping with a name and a type", hint=_HINT)
        unknown = sorted(set(step) - _STEP_KEYS)
        if unknown:
            raise VersioningError(f"{where} ({step['name']}) has unknown keys {unknown}", hint=_HINT)
        node = {"type": step["type"], "params": step.get("params") or {}}
        built.append((step["name"], _decode(node, f"{where} ({step['name']})")))
    return Pipeline(built)


def _encode(value: Any, where: str) -> Any:  # noqa: PLR0911 - one return per kind of value reads best
    import numpy as np

    base = _base_estimator()
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, base):
        params = value.get_params(deep=False)
        return {
            "type": _path_of(type(value), where),
            "params": {key: _encode(params[key], f"{where}.{key}") for key in sorted(params)},
        }
    if isinstance(value, list):
        return [_encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, tuple):
        return {"tuple": [_encode(item, f"{where}[{i}]") for i, item in enumerate(value)]}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise VersioningError(f"{where} is a mapping with keys that are not strings", hint=_HINT)
        return {"dict": {key: _encode(item, f"{where}.{key}") for key, item in value.items()}}
    if isinstance(value, np.ndarray):
        return {"array": _encode(value.tolist(), where), "dtype": str(value.dtype)}
    if isinstance(value, slice):
        return {"slice": [_encode(part, where) for part in (value.start, value.stop, value.step)]}
    if isinstance(value, type) or callable(value):
        return {"callable": _path_of(value, where)}
    raise VersioningError(
        f"{where} is a {type(value).__name__}, which has no JSON form in a pipeline spec",
        hint="use numbers, strings, lists, mappings, estimators or importable functions as parameters",
    )


def _decode(value: Any, where: str) -> Any:  # noqa: PLR0911 - one return per tag
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_decode(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise VersioningError(f"{where} is a {type(value).__name__}, not a spec value", hint=_HINT)
    if "type" in value and set(value) <= {"type", "params"}:
        return _construct(value, where)
    if len(value) == 1:
        ((tag, body),) = value.items()
        if tag == "tuple" and isinstance(body, list):
            return tuple(_decode(body, where))
        if tag == "dict" and isinstance(body, dict):
            return {key: _decode(item, f"{where}.{key}") for key, item in body.items()}
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "callable" and isinstance(body, str):
            return _resolve(body, where)
        if tag == "slice" and isinstance(body, list) and len(body) == 3:
            return slice(*_decode(body, where))
    if set(value) == {"array", "dtype"} and isinstance(value["dtype"], str):
        import numpy as np

        return np.array(_decode(value["array"], where), dtype=value["dtype"])
    raise VersioningError(
        f"{where} is a mapping Reprise cannot read as a spec value (keys {sorted(value)})",
        hint='write an estimator as {"type": ..., "params": {...}} and a plain mapping as {"dict": {...}}',
    )


def _construct(node: dict[str, Any], where: str) -> Any:
    path, params = node["type"], node.get("params") or {}
    if not isinstance(path, str) or not isinstance(params, dict):
        raise VersioningError(f"{where}: type must be a string and params a mapping", hint=_HINT)
    cls = _resolve(path, where)
    if not isinstance(cls, type) or not issubclass(cls, _base_estimator()):
        raise VersioningError(f"{where}: {path} is not a scikit-learn estimator class", hint=_HINT)
    try:
        return cls(**{key: _decode(item, f"{where}.{key}") for key, item in params.items()})
    except TypeError as exc:
        raise VersioningError(
            f"{where}: {path} refused its params: {exc}", hint=f"check the parameters of {path}"
        ) from exc


def _path_of(obj: Any, where: str) -> str:
    """The shortest public import path that names ``obj`` (``sklearn.preprocessing.StandardScaler``)."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        raise VersioningError(
            f"{where} ({obj!r}) cannot be named by an import path",
            hint="define it at the top level of a module (no lambda or local function)",
        )
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if any(part.startswith("_") for part in parts[1:end]) and end < len(parts):
            continue
        if _lookup(prefix, qualname) is obj:
            return f"{prefix}.{qualname}"
    raise VersioningError(
        f"{where}: {module}.{qualname} cannot be imported by that name",
        hint="define it at the top level of an importable module",
    )


def _resolve(path: str, where: str) -> Any:
    parts = path.split(".")
    for end in range(len(parts) - 1, 0, -1):
        found = _lookup(".".join(parts[:end]), ".".join(parts[end:]))
        if found is not None:
            return found
    raise VersioningError(f"{where}: cannot import {path}", hint="check the import path (module.Class)")


def _lookup(module: str, qualname: str) -> Any:
    try:
        found: Any = importlib.import_module(module)
    except ImportError:
        return None
    for name in qualname.split("."):
        found = getattr(found, name, None)
        if found is None:
            return None
    return found
