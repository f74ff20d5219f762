"""Quality gates: ``accuracy >= 0.85`` parsed, read from the project's config, and evaluated on a run's metrics.

Gates live in ``reprise.toml`` (or ``[tool.reprise.gates]`` in ``pyproject.toml``) and/or under ``gates:`` in
``params.yaml``::

    [gates]                          # reprise.toml
    accuracy = ">= 0.85"
    rmse = ["<= 0.30", "> 0"]        # several gates on one metric

    gates:                           # params.yaml: a mapping ...
      accuracy: ">= 0.85"
    gates:                           # ... or a list
      - accuracy >= 0.85
      - f1_macro >= 0.80

The operators are ``>=``, ``>``, ``<=``, ``<`` and ``==`` (equal within 1e-9, relative). A metric may be gated in
one file only, so there is never a question of which threshold wins. A failed gate is a value (a
:class:`GateReport`), not an exception: callers that want to enforce raise :class:`~reprise.errors.GateFailedError`.

Example:
    >>> report = evaluate_gates([parse_gate("accuracy >= 0.9")], {"accuracy": 0.87})
    >>> report.status, report.failures[0].describe()
    ('failed', 'accuracy >= 0.9: actual 0.87, short by 0.03')
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from pydantic import BaseModel, ConfigDict

from reprise.config import read_table
from reprise.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

__all__ = [
    "Gate",
    "GateReport",
    "GateResult",
    "PARAMS_FILE",
    "evaluate_gates",
    "load_gates",
    "parse_gate",
]

#: The DVC parameters file that may hold a ``gates:`` section, at the project root.
PARAMS_FILE: Final = "params.yaml"

Operator = Literal[">=", ">", "<=", "<", "=="]

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_GATE = re.compile(rf"^\s*(?P<metric>[A-Za-z_][\w.\-/]*)?\s*(?P<op>>=|<=|==|>|<)\s*(?P<threshold>{_NUMBER})\s*$")
_SYNTAX_HINT = 'write a gate as "accuracy >= 0.85" (operators: >=, >, <=, <, ==)'


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Gate(_Frozen):
    """One quality gate: ``metric op threshold``.

    Attributes:
        metric: The run metric it checks.
        op: The comparison the metric must satisfy.
        threshold: The value it is compared with.
    """

    metric: str
    op: Operator
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"

    @property
    def maximize(self) -> bool | None:
        """True when higher is better (``>=``, ``>``), False when lower is (``<=``, ``<``), None for ``==``."""
        return None if self.op == "==" else self.op.startswith(">")

    def check(self, actual: float | None) -> GateResult:
        """Compare ``actual`` (None: the metric was not logged) with the threshold."""
        if actual is None or math.isnan(actual):  # NaN (a diverged run) fails, and is kept out of JSON as None
            return GateResult(gate=self, actual=None, passed=False)
        passed = {
            ">=": actual >= self.threshold,
            ">": actual > self.threshold,
            "<=": actual <= self.threshold,
            "<": actual < self.threshold,
            "==": math.isclose(actual, self.threshold, rel_tol=1e-9, abs_tol=1e-12),
        }[self.op]
        if passed:
            return GateResult(gate=self, actual=actual, passed=True)
        gap = self.threshold - actual if self.maximize else actual - self.threshold
        return GateResult(gate=self, actual=actual, passed=False, shortfall=abs(gap))


class GateResult(_Frozen):
    """How one metric fared against one gate.

    Attributes:
        gate: The gate.
        actual: The metric's value, None when the run did not log it (or logged NaN).
        passed: Whether the gate holds.
        shortfall: How far the metric is from the threshold, on the failing side (None when passed or missing).
    """

    gate: Gate
    actual: float | None
    passed: bool
    shortfall: float | None = None

    def describe(self) -> str:
        """One line: ``accuracy >= 0.9: actual 0.87, short by 0.03``."""
        if self.actual is None:
            return f"{self.gate}: metric '{self.gate.metric}' was not logged (or is NaN)"
        if self.passed:
            return f"{self.gate}: actual {self.actual:.6g}, passed"
        return f"{self.gate}: actual {self.actual:.6g}, short by {self.shortfall:.6g}"


class GateReport(_Frozen):
    """Every gate's result for one model version.

    Attributes:
        results: One result per gate, in the order the gates were given.
    """

    results: tuple[GateResult, ...] = ()

    @property
    def evaluated(self) -> bool:
        """Whether any gate was configured."""
        return bool(self.results)

    @property
    def passed(self) -> bool:
        """True when gates were configured and every one holds."""
        return self.evaluated and all(result.passed for result in self.results)

    @property
    def status(self) -> Literal["passed", "failed", "not_evaluated"]:
        """``passed``, ``failed`` or ``not_evaluated`` (no gates configured): the ``validation_status`` tag."""
        if not self.evaluated:
            return "not_evaluated"
        return "passed" if self.passed else "failed"

    @property
    def failures(self) -> tuple[GateResult, ...]:
        """The gates that did not hold."""
        return tuple(result for result in self.results if not result.passed)

    def describe_failures(self) -> str:
        """The failed gates, ``; ``-separated (the ``gate_failures`` tag)."""
        return "; ".join(result.describe() for result in self.failures)


def parse_gate(text: str, *, metric: str | None = None, where: str = "gate") -> Gate:
    """Parse ``"accuracy >= 0.85"``, or ``">= 0.85"`` when ``metric`` is given (the mapping form of the config).

    Args:
        text: The gate.
        metric: The metric the gate is for, when it is the key of a mapping.
        where: Where the gate was written, for the error message (e.g. ``reprise.toml [gates] accuracy``).

    Returns:
        The gate.

    Raises:
        ConfigError: The text is not a gate, or names a different metric than its key.
    """
    match = _GATE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"{where}: cannot parse gate {text!r}", hint=_SYNTAX_HINT)
    named = match["metric"]
    if metric is not None and named is not None and named != metric:
        raise ConfigError(f"{where}: gate {text!r} names '{named}' under the key '{metric}'", hint=_SYNTAX_HINT)
    name = named or metric
    if name is None:
        raise ConfigError(f"{where}: gate {text!r} names no metric", hint=_SYNTAX_HINT)
    return Gate(metric=name, op=cast("Operator", match["op"]), threshold=float(match["threshold"]))


def evaluate_gates(gates: Iterable[Gate], metrics: Mapping[str, float]) -> GateReport:
    """Check every gate against ``metrics`` (a missing metric fails its gate).

    Args:
        gates: The gates.
        metrics: Metric name to value, e.g. an MLflow run's latest metrics.

    Returns:
        The report; ``report.status`` is ``not_evaluated`` when there are no gates.
    """
    return GateReport(results=tuple(gate.check(metrics.get(gate.metric)) for gate in gates))


def load_gates(project_dir: Path) -> tuple[Gate, ...]:
    """Read the gates of the project at or above ``project_dir`` from ``reprise.toml`` and ``params.yaml``.

    Args:
        project_dir: A folder inside the project.

    Returns:
        The gates, ``reprise.toml``'s first, each file's in the order written; duplicates removed.

    Raises:
        NotAProjectError: No project was found.
        ConfigError: A gate is malformed, or one metric is gated in both files; the message names file and gate.
    """
    config_file, table = read_table(project_dir, "gates")
    from_toml = _from_mapping(table, f"{config_file.name} [gates]")
    params = config_file.parent / PARAMS_FILE
    from_yaml = _from_params(params)
    clash = sorted({gate.metric for gate in from_toml} & {gate.metric for gate in from_yaml})
    if clash:
        raise ConfigError(
            f"gates for {', '.join(clash)} are set in both {config_file.name} and {PARAMS_FILE}",
            hint="keep each metric's gates in one file",
        )
    return tuple(dict.fromkeys((*from_toml, *from_yaml)))


def _from_params(path: Path) -> list[Gate]:
    if not path.is_file():
        return []
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        reason = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise ConfigError(f"cannot read gates from {path}: {reason}{where}", hint=f"fix the syntax of {path}") from exc
    section = data.get("gates") if isinstance(data, dict) else None
    if section is None:
        return []
    if isinstance(section, dict):
        return _from_mapping(section, f"{PARAMS_FILE} gates")
    if isinstance(section, list):
        gates: list[Gate] = []
        for index, item in enumerate(section):
            where = f"{PARAMS_FILE} gates[{index}]"
            if isinstance(item, dict):
                gates.extend(_from_mapping(item, where))
            else:
                gates.append(parse_gate(item, where=where))
        return gates
    raise ConfigError(
        f"{PARAMS_FILE}: 'gates' must be a list or a mapping, got {section!r}",
        hint='write gates: ["accuracy >= 0.85"] or gates: {accuracy: ">= 0.85"}',
    )


def _from_mapping(table: Mapping[str, Any], where: str) -> list[Gate]:
    gates: list[Gate] = []
    for metric, value in table.items():
        here = f"{where} {metric}"
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, bool) or not isinstance(item, str):
                raise ConfigError(
                    f"{here}: gate {item!r} has no comparison",
                    hint=f'write {metric} = ">= {item}" (or <=, >, <, ==)',
                )
            gates.append(parse_gate(item, metric=str(metric), where=here))
    return gates
