"""Compare two model versions (metrics, params, signature, provenance) and find the best version by a metric.

A version's metrics are the ones written on it at registration (``metric.*`` tags), or its run's metrics when it
was registered outside Reprise. Params come from the runs; signatures from the models' ``MLmodel`` files.

Example:
    >>> comparison = compare_versions("obesity_classifier", 2, "champion")  # doctest: +SKIP
    >>> [(m.name, m.delta) for m in comparison.metrics]                      # doctest: +SKIP
    [('accuracy', 0.012), ('f1_macro', 0.009)]
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict

from reprise.config import load_settings
from reprise.errors import ConfigError, NotAProjectError, NotFoundError
from reprise.registry._mlflow import alias_map, all_versions, resolve_version, the_model
from reprise.registry._provenance import read_model_meta
from reprise.registry.catalog import VersionInfo, version_info, version_metrics
from reprise.registry.gates import load_gates
from reprise.registry.refs import version_ref
from reprise.tracking._client import client_for

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlflow import MlflowClient

    from reprise.config import Settings

__all__ = [
    "BestVersion",
    "MetricDelta",
    "ParamDiff",
    "RankedVersion",
    "SignatureDiff",
    "VersionComparison",
    "VersionSide",
    "best_version",
    "compare_versions",
    "lower_is_better",
    "metric_deltas",
    "param_diffs",
]

#: Metric names where smaller is better, when no gate says which way a metric goes.
_LOWER_IS_BETTER: Final = re.compile(r"(^|_)(rmse|mse|mae|mape|rmsle|loss|logloss|log_loss|error|err)($|_)", re.I)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MetricDelta(_Frozen):
    """One metric side by side: ``delta`` is ``b - a`` (None when either is missing)."""

    name: str
    a: float | None
    b: float | None
    delta: float | None


class ParamDiff(_Frozen):
    """A run parameter that differs (None: not set on that side)."""

    name: str
    a: str | None
    b: str | None


def metric_deltas(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[MetricDelta, ...]:
    """Every metric of either side, by name, with ``b - a`` where both have it (model versions, releases)."""
    return tuple(
        MetricDelta(
            name=key, a=a.get(key), b=b.get(key), delta=None if key not in a or key not in b else b[key] - a[key]
        )
        for key in sorted({*a, *b})
    )


def param_diffs(a: Mapping[str, str], b: Mapping[str, str]) -> tuple[ParamDiff, ...]:
    """The parameters whose values differ between the two sides, by name."""
    return tuple(
        ParamDiff(name=key, a=a.get(key), b=b.get(key)) for key in sorted({*a, *b}) if a.get(key) != b.get(key)
    )


class SignatureDiff(_Frozen):
    """How two model signatures differ; columns are written ``name: type``.

    Attributes:
        same: Whether inputs and outputs are identical.
        only_in_a: Input columns only the first version takes.
        only_in_b: Input columns only the second version takes.
        changed: Input columns whose type changed (``name: a_type → b_type``).
        outputs_a: The first version's outputs.
        outputs_b: The second version's outputs.
    """

    same: bool
    only_in_a: tuple[str, ...] = ()
    only_in_b: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    outputs_a: str | None = None
    outputs_b: str | None = None


class VersionSide(_Frozen):
    """One of the two versions compared, with its provenance."""

    version: int
    aliases: tuple[str, ...]
    stage: str
    run_id: str | None
    git_commit: str
    data_digest: str
    model_type: str
    validation_status: str


class VersionComparison(_Frozen):
    """Two versions of one model side by side.

    Attributes:
        model: The registered model.
        a: The first version.
        b: The second version.
        metrics: Every metric of either version, with ``b - a``.
        params: The run parameters that differ.
        signature: The signature differences.
    """

    model: str
    a: VersionSide
    b: VersionSide
    metrics: tuple[MetricDelta, ...]
    params: tuple[ParamDiff, ...]
    signature: SignatureDiff


class RankedVersion(_Frozen):
    """A version and its value of the metric ranked by."""

    version: int
    value: float
    aliases: tuple[str, ...] = ()
    stage: str = "None"


class BestVersion(_Frozen):
    """The best version of a model by one metric, and the full ranking.

    Attributes:
        model: The registered model.
        metric: The metric.
        maximize: Whether higher was better.
        direction_from: Why: ``flag``, ``gate`` (a configured gate's direction) or ``name`` (e.g. rmse: lower).
        version: The best version.
        value: Its value.
        ranking: Every version with the metric (NaN left out), best first (ties: the newest first).
    """

    model: str
    metric: str
    maximize: bool
    direction_from: str
    version: int
    value: float
    ranking: tuple[RankedVersion, ...]


def compare_versions(name: str, a: int | str, b: int | str, *, settings: Settings | None = None) -> VersionComparison:
    """Compare two versions of ``name``: metrics with deltas, differing params, signatures, commit and data.

    Args:
        name: The registered model.
        a: A version number, ``latest`` or an alias (``3``, ``"v3"``, ``"champion"``).
        b: Another one.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The comparison.

    Raises:
        NotFoundError: No such model, version or alias; the message lists the known ones.
    """
    settings = settings or load_settings()
    client = client_for(settings)
    aliases = alias_map(the_model(client, name))
    first = version_info(resolve_version(client, version_ref(name, a)), aliases)
    second = version_info(resolve_version(client, version_ref(name, b)), aliases)
    metrics_a, metrics_b = version_metrics(client, first), version_metrics(client, second)
    deltas = metric_deltas(metrics_a, metrics_b)
    params_a, params_b = _params(client, first.run_id), _params(client, second.run_id)
    params = param_diffs(params_a, params_b)
    signature = _signature_diff(
        read_model_meta(settings, first.source) if first.source else None,
        read_model_meta(settings, second.source) if second.source else None,
    )
    return VersionComparison(
        model=name, a=_side(first), b=_side(second), metrics=deltas, params=params, signature=signature
    )


def best_version(
    name: str, metric: str, *, maximize: bool | None = None, settings: Settings | None = None
) -> BestVersion:
    """The version of ``name`` with the best ``metric``, and every version's rank.

    Args:
        name: The registered model.
        metric: The metric to rank by.
        maximize: True: higher is better; False: lower is. Default: the direction of the project's gate on that
            metric, else lower for error-like names (rmse, mae, loss...), else higher.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The best version and the ranking.

    Raises:
        NotFoundError: No such model, or no version has ``metric`` (the message lists the metrics they have).
    """
    settings = settings or load_settings()
    client = client_for(settings)
    aliases = alias_map(the_model(client, name))
    infos = [version_info(found, aliases) for found in all_versions(client, name)]
    direction_from = "flag"
    if maximize is None:
        maximize, direction_from = _direction(settings, metric)
    ranked: list[RankedVersion] = []
    seen: set[str] = set()
    for info in infos:
        metrics = version_metrics(client, info)
        seen.update(metrics)
        if metric in metrics and not math.isnan(metrics[metric]):
            ranked.append(
                RankedVersion(version=info.version, value=metrics[metric], aliases=info.aliases, stage=info.stage)
            )
    if not ranked:
        listed = ", ".join(sorted(seen)) or "none"
        raise NotFoundError(
            f"no version of '{name}' has metric '{metric}'; metrics: {listed}",
            hint=f"reprise registry best {name} --metric METRIC",
        )
    sign = -1.0 if maximize else 1.0
    ranked.sort(key=lambda entry: (sign * entry.value, -entry.version))
    top = ranked[0]
    return BestVersion(
        model=name,
        metric=metric,
        maximize=maximize,
        direction_from=direction_from,
        version=top.version,
        value=top.value,
        ranking=tuple(ranked),
    )


def lower_is_better(metric: str) -> bool:
    """Whether a metric's name says smaller is better (``rmse``, ``val_loss``, ``mae``...)."""
    return bool(_LOWER_IS_BETTER.search(metric))


def _direction(settings: Settings, metric: str) -> tuple[bool, str]:
    try:
        gates = load_gates(settings.project_dir)
    except (ConfigError, NotAProjectError):
        gates = ()
    for gate in gates:
        if gate.metric == metric and gate.maximize is not None:
            return gate.maximize, "gate"
    return not lower_is_better(metric), "name"


def _side(info: VersionInfo) -> VersionSide:
    return VersionSide(
        version=info.version,
        aliases=info.aliases,
        stage=info.stage,
        run_id=info.run_id,
        git_commit=info.git_commit,
        data_digest=info.data_digest,
        model_type=info.model_type,
        validation_status=info.validation_status,
    )


def _params(client: MlflowClient, run_id: str | None) -> dict[str, str]:
    if run_id is None:
        return {}
    from mlflow.exceptions import MlflowException

    try:
        return dict(client.get_run(run_id).data.params)
    except MlflowException:  # the run was deleted: nothing to compare
        return {}


def _signature_diff(meta_a: Any, meta_b: Any) -> SignatureDiff:
    inputs_a, outputs_a = _columns(meta_a)
    inputs_b, outputs_b = _columns(meta_b)
    only_a = tuple(f"{key}: {inputs_a[key]}" for key in inputs_a if key not in inputs_b)
    only_b = tuple(f"{key}: {inputs_b[key]}" for key in inputs_b if key not in inputs_a)
    changed = tuple(
        f"{key}: {inputs_a[key]} → {inputs_b[key]}"
        for key in inputs_a
        if key in inputs_b and inputs_a[key] != inputs_b[key]
    )
    same = not (only_a or only_b or changed) and outputs_a == outputs_b
    return SignatureDiff(
        same=same, only_in_a=only_a, only_in_b=only_b, changed=changed, outputs_a=outputs_a, outputs_b=outputs_b
    )


def _columns(meta: Any) -> tuple[dict[str, str], str | None]:
    """``({column: type}, outputs)`` of a model's signature; empty when it has none."""
    signature = getattr(meta, "signature", None)
    if signature is None:
        return {}, None
    spec = signature.to_dict()
    columns = json.loads(spec.get("inputs") or "[]")
    inputs = {str(column.get("name", f"#{index}")): _kind(column) for index, column in enumerate(columns)}
    outputs = spec.get("outputs")
    if outputs is None:
        return inputs, None
    parts = [
        f"{column['name']}: {_kind(column)}" if "name" in column else _kind(column) for column in json.loads(outputs)
    ]
    return inputs, ", ".join(parts)


def _kind(column: dict[str, Any]) -> str:
    kind = str(column.get("type", "?"))
    if kind == "tensor":
        tensor = column.get("tensor-spec", {})
        return f"tensor {tensor.get('dtype', '?')} {tuple(tensor.get('shape', ()))}"
    return kind
