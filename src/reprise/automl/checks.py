"""Constraint checks: each limit against its measured value, with the slack and a sentence saying by how much.

The violation of a check is what Optuna's constraint support reads: ``<= 0`` is feasible, and a larger value is
further from feasible, relative to the limit (a model 20% over its size limit has violation 0.2), so limits in
different units weigh alike when the sampler ranks infeasible trials.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from reprise.automl.presets import INTERPRETABILITY

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reprise.automl.measure import Measurement
    from reprise.automl.presets import Constraints

__all__ = ["ConstraintCheck", "check_constraints", "describe_failures", "violations"]


@dataclass(frozen=True)
class ConstraintCheck:
    """One limit against its measured value (every limit is an upper bound).

    Attributes:
        name: ``size_mb``, ``latency_p95_ms``, ``false_positive_rate`` or ``interpretability``.
        limit: The limit (for interpretability, the rank of the least transparent class allowed).
        actual: The measured value (for interpretability, the rank of the model's class).
        unit: The unit, for messages.
        ok: Whether the limit holds.
        slack: How much room is left (negative: by how much it is broken), in ``unit``.
        violation: Relative distance past the limit (<= 0 holds), as Optuna's constraints read it.
    """

    name: str
    limit: float
    actual: float
    unit: str
    ok: bool
    slack: float
    violation: float

    def describe(self) -> str:
        """One sentence: which limit, the value, and by how much it holds or breaks."""
        if self.name == "interpretability":
            actual, limit = INTERPRETABILITY[int(self.actual)], INTERPRETABILITY[int(self.limit)]
            return f"interpretability {actual} {'within' if self.ok else 'beyond'} the {limit} limit"
        unit = f" {self.unit}" if self.unit else ""
        if self.ok:
            spare = f"{self.slack:.4g}{unit} to spare"
            return f"{self.name} {self.actual:.4g}{unit} within the {self.limit:.4g}{unit} limit ({spare})"
        return f"{self.name} {self.actual:.4g}{unit} over the {self.limit:.4g}{unit} limit by {-self.slack:.4g}{unit}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON, with the sentence."""
        return {**asdict(self), "message": self.describe()}


def check_constraints(
    measurement: Measurement, metrics: Mapping[str, float], constraints: Constraints
) -> tuple[ConstraintCheck, ...]:
    """Check every limit of ``constraints`` that applies, against a measurement and a trial's metrics.

    Args:
        measurement: The artifact's size, latency and interpretability class.
        metrics: The trial's metrics (``cv_false_positive_rate`` for anomaly detection).
        constraints: The limits.

    Returns:
        One check per limit, in a fixed order: size, latency, false-positive rate, interpretability.
    """
    checks = []
    if constraints.max_size_mb is not None:
        checks.append(_at_most("size_mb", constraints.max_size_mb, measurement.size_mb, "MB"))
    if constraints.max_latency_ms is not None:
        checks.append(_at_most("latency_p95_ms", constraints.max_latency_ms, measurement.latency_p95_ms, "ms"))
    if constraints.max_false_positive_rate is not None and "cv_false_positive_rate" in metrics:
        cap = constraints.max_false_positive_rate
        checks.append(_at_most("false_positive_rate", cap, metrics["cv_false_positive_rate"], ""))
    rank = INTERPRETABILITY.index(measurement.interpretability)
    allowed = INTERPRETABILITY.index(constraints.interpretability)
    checks.append(
        ConstraintCheck(
            name="interpretability",
            limit=float(allowed),
            actual=float(rank),
            unit="",
            ok=rank <= allowed,
            slack=float(allowed - rank),
            violation=float(rank - allowed),
        )
    )
    return tuple(checks)


def violations(checks: tuple[ConstraintCheck, ...]) -> list[float]:
    """The values Optuna's ``constraints_func`` returns for a trial (<= 0 each: feasible)."""
    return [check.violation for check in checks]


def describe_failures(checks: tuple[ConstraintCheck, ...]) -> str:
    """The broken limits, one clause each, or an empty string when every limit holds."""
    return "; ".join(check.describe() for check in checks if not check.ok)


def _at_most(name: str, limit: float, actual: float, unit: str) -> ConstraintCheck:
    slack = limit - actual
    violation = actual / limit - 1 if limit > 0 else (0.0 if actual <= 0 else actual)
    return ConstraintCheck(name, limit, actual, unit, actual <= limit, slack, violation)
