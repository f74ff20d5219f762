"""Presets are data: use cases and deployment environments as TOML files shipped inside the package.

A search starts from one use-case preset (what to optimise, which model families, which limits), optionally an
environment preset (where the model will run), and optionally a constraints file. A use case and an environment
combine by taking the stricter of each limit, never the looser; the constraints file then overrides any field it
names (that is what it is for: a deliberate, recorded exception). Every preset and file used is recorded with its
sha256, so a search says exactly which limits it was held to.

Example:
    >>> constraints = resolve_constraints("predictive_maintenance", "edge")
    >>> constraints.max_size_mb, constraints.max_latency_ms, constraints.threads
    (10.0, 50.0, 1)
"""

from __future__ import annotations

import hashlib
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reprise.errors import ConfigError

__all__ = [
    "Constraints",
    "INTERPRETABILITY",
    "Preset",
    "PresetSource",
    "list_presets",
    "load_preset",
    "resolve_constraints",
]

#: Interpretability classes, most transparent first: a limit of ``explainable`` admits glass boxes too.
INTERPRETABILITY: Final = ("glass_box", "explainable", "opaque")
Interpretability = Literal["glass_box", "explainable", "opaque"]
#: A deployable form: the pipeline as skops (``native``) or its ONNX graph (``onnx``, the ``edge`` extra).
Form = Literal["native", "onnx"]
#: Limits where the smaller value is the stricter one.
_AT_MOST: Final = ("max_latency_ms", "max_size_mb", "max_false_positive_rate", "threads")
#: Limits where the larger value is the stricter one.
_AT_LEAST: Final = ("min_precision",)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Preset(_Frozen):
    """One preset file as shipped: a use case or an environment, every field optional but ``kind``.

    Attributes:
        kind: ``use_case`` or ``environment``.
        description: One line for ``reprise automl presets``.
        task: ``classification`` or ``anomaly`` (use cases).
        objective: ``average_precision`` or ``recall_at_precision`` (use cases).
        families: The model families searched (use cases).
        max_latency_ms: Limit on the p95 single-row latency, in milliseconds.
        max_size_mb: Limit on the bytes of the registered artifact folder, in MB (10**6 bytes).
        min_precision: For ``recall_at_precision``: the precision the threshold must reach.
        max_false_positive_rate: For anomaly detection: the share of normal rows that may be flagged.
        interpretability: The least transparent class allowed (``glass_box`` < ``explainable`` < ``opaque``).
        threads: Threads the model may use when it predicts (latency is measured with this many).
        device: Where it runs (``cpu``).
        offline_load: Loading the model must download nothing.
        forms: The deployable forms a model may ship in, in order of preference (environments).
    """

    kind: Literal["use_case", "environment"]
    description: str = ""
    task: Literal["classification", "anomaly"] | None = None
    objective: Literal["average_precision", "recall_at_precision"] | None = None
    families: tuple[str, ...] | None = None
    max_latency_ms: float | None = None
    max_size_mb: float | None = None
    min_precision: float | None = None
    max_false_positive_rate: float | None = None
    interpretability: Interpretability | None = None
    threads: int | None = None
    device: Literal["cpu"] | None = None
    offline_load: bool | None = None
    forms: tuple[Form, ...] | None = Field(default=None, min_length=1)


class PresetSource(_Frozen):
    """Where a part of the constraints came from: a shipped preset or a constraints file, and its sha256."""

    id: str
    kind: str
    sha256: str


class Constraints(_Frozen):
    """The limits a search is held to, after combining presets and applying a constraints file.

    Attributes:
        use_case: The use-case preset.
        environment: The environment preset, if any.
        task: ``classification`` or ``anomaly``.
        objective: What the search maximises.
        families: The model families searched.
        max_latency_ms: p95 single-row latency limit (None: no limit).
        max_size_mb: Artifact size limit (None: no limit).
        min_precision: Precision floor of ``recall_at_precision``.
        max_false_positive_rate: False-alarm cap of anomaly detection.
        interpretability: The least transparent class allowed.
        threads: Threads pinned while predicting (and while timing).
        device: Where the model runs.
        offline_load: Loading must download nothing.
        forms: The deployable forms a model may ship in, in order of preference: a trial ships in the first one
            that meets every limit (:mod:`reprise.automl.forms`).
        cv_folds: Cross-validation folds per trial.
        test_fraction: Share of rows held out for the winner's one test score.
        latency_rows: Single-row predictions timed per measurement.
        warmup_rows: Single-row predictions made before timing starts.
        sources: The presets and file these limits came from, with their sha256.
    """

    use_case: str
    environment: str | None = None
    task: Literal["classification", "anomaly"]
    objective: Literal["average_precision", "recall_at_precision"]
    families: tuple[str, ...]
    max_latency_ms: float | None = None
    max_size_mb: float | None = None
    min_precision: float | None = None
    max_false_positive_rate: float | None = None
    interpretability: Interpretability = "opaque"
    threads: int = 1
    device: Literal["cpu"] = "cpu"
    offline_load: bool = False
    forms: tuple[Form, ...] = Field(default=("native",), min_length=1)
    cv_folds: int = 3
    test_fraction: float = 0.2
    latency_rows: int = 200
    warmup_rows: int = 20
    sources: tuple[PresetSource, ...] = ()


def list_presets() -> dict[str, Preset]:
    """Every shipped preset, by id (the file name without ``.toml``), sorted."""
    return {name: load_preset(name)[0] for name in _shipped_ids()}


def load_preset(preset_id: str) -> tuple[Preset, PresetSource]:
    """Read the shipped preset ``preset_id`` and where it came from (its sha256).

    Raises:
        ConfigError: No such preset, or the file is malformed.
    """
    resource = resources.files("reprise.automl") / "presets" / f"{preset_id}.toml"
    if not preset_id.isidentifier() or not resource.is_file():
        known = ", ".join(sorted(_shipped_ids()))
        raise ConfigError(f"no AutoML preset '{preset_id}'", hint=f"known presets: {known} (reprise automl presets)")
    data = resource.read_bytes()
    preset = _parse(data, f"preset {preset_id}")
    return preset, PresetSource(id=preset_id, kind=preset.kind, sha256=hashlib.sha256(data).hexdigest())


def resolve_constraints(
    use_case: str, environment: str | None = None, constraints_file: str | Path | None = None
) -> Constraints:
    """Combine a use case, an environment and a constraints file into the limits a search is held to.

    The use case and the environment combine limit by limit, the stricter value winning (the lower latency, size,
    false-positive rate and thread count, the higher precision floor, the more transparent class). The constraints
    file (a TOML table of :class:`Constraints` fields) then overrides any field it names.

    Args:
        use_case: A use-case preset id (``predictive_maintenance``, ``quality_control``, ``anomaly_detection``).
        environment: An environment preset id (``edge``, ``cloud``), or None.
        constraints_file: A TOML file whose fields override the combined presets.

    Returns:
        The constraints, with every source and its sha256 in ``sources``.

    Raises:
        ConfigError: Unknown preset, a preset of the wrong kind, or a malformed constraints file.
    """
    case, case_source = load_preset(use_case)
    if case.kind != "use_case":
        raise ConfigError(f"'{use_case}' is an environment preset, not a use case", hint=f"--use-case {_use_cases()}")
    merged: dict[str, Any] = case.model_dump(exclude_none=True, exclude={"kind", "description"})
    sources = [case_source]
    if environment is not None:
        env, env_source = load_preset(environment)
        if env.kind != "environment":
            raise ConfigError(f"'{environment}' is a use-case preset, not an environment", hint="--environment edge")
        merged = _stricter(merged, env.model_dump(exclude_none=True, exclude={"kind", "description"}))
        sources.append(env_source)
    if constraints_file is not None:
        path = Path(constraints_file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read constraints file {path}: {exc.strerror}", hint="check the path") from exc
        try:
            overrides = tomllib.loads(data.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}", hint="see `reprise automl presets`") from exc
        merged.update(overrides)
        sources.append(PresetSource(id=str(path), kind="constraints_file", sha256=hashlib.sha256(data).hexdigest()))
    merged.update(use_case=use_case, environment=environment, sources=sources)
    try:
        return Constraints.model_validate(merged)
    except ValidationError as exc:
        where = str(constraints_file or f"preset {use_case}")
        hint = "see `reprise automl presets`"
        raise ConfigError(f"invalid constraints in {where}: {_first(exc)}", hint=hint) from exc


def _stricter(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """``base`` with each limit of ``other`` applied where it is stricter; other fields of ``other`` fill gaps."""
    merged = dict(base)
    for key, value in other.items():
        current = merged.get(key)
        if current is None:
            merged[key] = value
        elif key in _AT_MOST:
            merged[key] = min(current, value)
        elif key in _AT_LEAST:
            merged[key] = max(current, value)
        elif key == "interpretability":
            merged[key] = min(current, value, key=INTERPRETABILITY.index)
        elif key == "offline_load":
            merged[key] = bool(current or value)
        else:
            merged[key] = value
    return merged


def _parse(data: bytes, where: str) -> Preset:
    try:
        return Preset.model_validate(tomllib.loads(data.decode()))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}", hint="reinstall reprise") from exc
    except ValidationError as exc:
        raise ConfigError(f"{where} is invalid: {_first(exc)}", hint="reinstall reprise") from exc


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "(root)"
    return f"{field}: {error['msg']}"


def _shipped_ids() -> list[str]:
    folder = resources.files("reprise.automl") / "presets"
    return sorted(item.name[: -len(".toml")] for item in folder.iterdir() if item.name.endswith(".toml"))


def _use_cases() -> str:
    return " | ".join(name for name, preset in list_presets().items() if preset.kind == "use_case")
