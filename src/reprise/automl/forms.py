"""Deployable forms: each candidate measured as it would ship, natively and (with the ``edge`` extra) as ONNX.

A search's constraints name the forms it may ship (``forms``: ``native``, the pipeline in the skops format, and
``onnx``). Each form is saved, sized and timed as ``reprise serve`` would load it; the ONNX form is measured only
after it passed the equivalence check (:mod:`reprise.automl.onnx_form`), and a form that cannot be made (a family
skl2onnx cannot convert) or answers differently is refused with the reason. The form a trial ships is the first
one, in the order the constraints list them, that meets every limit: a native model too big or too slow may still
ship as ONNX. When none meets every limit, the one nearest to it (smallest summed violation) stands for the trial,
so the sampler learns how far off the configuration is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from reprise.automl.checks import ConstraintCheck, check_constraints

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reprise.automl.evaluate import SearchData
    from reprise.automl.measure import Measurement
    from reprise.automl.onnx_form import Equivalence
    from reprise.automl.presets import Constraints

__all__ = ["FORMS", "FormOutcome", "choose_form", "deployable", "measure_forms"]

#: The forms a model can ship in.
FORMS: Final = ("native", "onnx")


@dataclass(frozen=True)
class FormOutcome:
    """One deployable form of a candidate.

    Attributes:
        form: ``native`` or ``onnx``.
        measurement: The form's measured figures (None when it was refused before it could be measured).
        checks: Every limit against those figures.
        equivalence: For ONNX, how its answers compare with the pipeline's on held-out rows.
        refused: Why the form cannot ship at all (empty when it can be measured).
    """

    form: str
    measurement: Measurement | None = None
    checks: tuple[ConstraintCheck, ...] = ()
    equivalence: Equivalence | None = None
    refused: str = ""

    @property
    def feasible(self) -> bool:
        """The form can ship and meets every limit."""
        return self.measurement is not None and all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "form": self.form,
            "feasible": self.feasible,
            "measurement": None if self.measurement is None else self.measurement.to_dict(),
            "checks": [check.to_dict() for check in self.checks],
            "equivalence": None if self.equivalence is None else self.equivalence.to_dict(),
            "refused": self.refused,
        }


def deployable(model: Any, form: str, data: SearchData) -> tuple[Any, Any, Equivalence | None, str]:
    """What would be logged for ``model`` in ``form``: the object, its example answers, the check, any refusal.

    Returns:
        ``(artifact, predictions, equivalence, refused)``: the object to log (the pipeline, or its ONNX graph), the
        predictions for the input example (None: the model can be asked), the equivalence check (ONNX), and why the
        form is refused (empty when it is not).
    """
    if form == "native":
        return model, None, None, ""
    from reprise.automl.onnx_form import check_equivalence, to_onnx

    try:
        proto = to_onnx(model, data)
    except Exception as exc:  # skl2onnx raises many types for what it cannot convert; any means: no ONNX form
        return None, None, None, f"cannot convert to ONNX: {type(exc).__name__}: {exc}".splitlines()[0]
    equivalence = check_equivalence(model, proto, data)
    if not equivalence.equivalent:
        return None, None, equivalence, f"ONNX form refused: {equivalence.describe()}"
    return proto, model.predict(data.features.iloc[data.train[:5]]), equivalence, ""


def measure_forms(
    model: Any,
    interpretability: str,
    metrics: Mapping[str, float],
    data: SearchData,
    constraints: Constraints,
    seed: int,
) -> tuple[FormOutcome, ...]:
    """Make, check and measure every form the constraints allow, in their order."""
    from reprise.automl.measure import measure_model

    outcomes = []
    for form in constraints.forms:
        artifact, predictions, equivalence, refused = deployable(model, form, data)
        if refused:
            outcomes.append(FormOutcome(form, equivalence=equivalence, refused=refused))
            continue
        measurement = measure_model(artifact, interpretability, data, constraints, seed, predictions=predictions)
        checks = check_constraints(measurement, metrics, constraints)
        outcomes.append(FormOutcome(form, measurement, checks, equivalence))
    return tuple(outcomes)


def choose_form(outcomes: tuple[FormOutcome, ...]) -> FormOutcome:
    """The form a trial ships: the first feasible one, else the measured one nearest to feasible.

    Raises:
        ValueError: No form could be measured (each was refused); the trial fails with the reasons.
    """
    measured = [outcome for outcome in outcomes if outcome.measurement is not None]
    if not measured:
        raise ValueError("; ".join(outcome.refused for outcome in outcomes))
    feasible = [outcome for outcome in measured if outcome.feasible]
    if feasible:
        return feasible[0]
    return min(measured, key=lambda outcome: sum(max(check.violation, 0.0) for check in outcome.checks))
