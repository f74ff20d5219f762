"""The winner: refit, one test score, measured again on the logged artifact, registered only if every limit holds.

The best feasible trial is refit with its own seed on every non-test row (the trial already fitted exactly this
model, so the refit is also a check that the fit reproduces), scored once on the held-out test rows, logged with
``reprise.log_model`` in a nested ``winner`` run in the form the trial ships in (an ONNX form converted and checked
for equivalence again), and its logged files are downloaded and measured: the figures
that decide are those of the bytes the registry would hold. Only if every limit holds is it registered, with the
figures as version tags (the registry copies the run's metrics), ``reprise/constraint_report.json``, SHAP plots and
the alias ``candidate``; the project's quality gates then decide staging as for any registration. Otherwise nothing
is registered and the report names the limits broken and the nearest feasible trials.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reprise._canonical import canonical_json
from reprise.automl.checks import ConstraintCheck, check_constraints, describe_failures
from reprise.automl.evaluate import fit_model, score_holdout
from reprise.automl.families import FAMILIES
from reprise.automl.measure import Measurement, measure_folder
from reprise.capture import layout

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reprise.automl.evaluate import SearchData
    from reprise.automl.presets import Constraints
    from reprise.automl.search import TrialResult
    from reprise.tracking.runs import CapturedRun

__all__ = ["CANDIDATE_ALIAS", "WinnerReport", "settle_winner"]

#: The alias a registered winner gets; promotion beyond it is the quality gates' and the user's decision.
CANDIDATE_ALIAS: Final = "candidate"
#: How many other trials a refusal lists.
_NEAREST: Final = 3


@dataclass(frozen=True)
class WinnerReport:
    """What happened to the best trial after the search.

    Attributes:
        trial: The winning trial's number, or None when no trial was feasible.
        run_id: The nested ``winner`` run (refit, test score, logged model), if there was a winner.
        test_score: The one score on the held-out test rows (None without labels).
        measurement: The figures of the logged artifact.
        checks: Every limit against those figures.
        registered: Whether a model version was registered.
        model_name: The registered model.
        version: The registered version.
        reason: Why nothing was registered (empty when registered).
        nearest: Other trials to consider (feasible ones by score; without any, those nearest to feasible).
    """

    trial: int | None
    run_id: str | None = None
    test_score: float | None = None
    measurement: Measurement | None = None
    checks: tuple[ConstraintCheck, ...] = ()
    registered: bool = False
    model_name: str | None = None
    version: int | None = None
    reason: str = ""
    nearest: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "trial": self.trial,
            "run_id": self.run_id,
            "test_score": self.test_score,
            "measurement": None if self.measurement is None else self.measurement.to_dict(),
            "checks": [check.to_dict() for check in self.checks],
            "registered": self.registered,
            "model_name": self.model_name,
            "version": self.version,
            "reason": self.reason,
            "nearest": list(self.nearest),
        }


def settle_winner(
    parent: CapturedRun,
    data: SearchData,
    constraints: Constraints,
    trials: Sequence[TrialResult],
    model_name: str,
    *,
    experiment: str,
    register: bool = True,
) -> WinnerReport:
    """Refit, test, log and re-measure the best feasible trial; register it if every limit still holds.

    Args:
        parent: The search's run (the winner's run is nested in it).
        data: The search's data, split.
        constraints: The limits.
        trials: Every trial of the search.
        model_name: The registered model to add a version to.
        experiment: The search's MLflow experiment.
        register: False to stop after the re-measurement (nothing registered).

    Returns:
        The report; ``registered`` says whether a version was made.
    """
    from reprise.automl.search import best_feasible

    best = best_feasible(trials)
    if best is None:
        nearest = sorted(trials, key=lambda t: (sum(max(c.violation, 0.0) for c in t.checks), -t.score, t.number))
        return WinnerReport(
            trial=None,
            reason="no trial met every limit",
            nearest=tuple(_summary(trial) for trial in nearest[:_NEAREST]),
        )
    refit = _refit_and_measure(parent, experiment, data, constraints, best)
    if isinstance(refit, str):
        return WinnerReport(trial=best.number, model_name=model_name, reason=refit)
    run_id, test_score, measurement, checks = refit
    failures = describe_failures(checks)
    others = [trial for trial in trials if trial.feasible and trial.number != best.number]
    others.sort(key=lambda trial: (-trial.score, trial.number))
    report = WinnerReport(
        trial=best.number,
        run_id=run_id,
        test_score=test_score,
        measurement=measurement,
        checks=checks,
        model_name=model_name,
        nearest=tuple(_summary(trial) for trial in others[:_NEAREST]),
    )
    if failures:
        return _replace(report, reason=f"trial {best.number} re-measured on its logged artifact: {failures}")
    if not register:
        return _replace(report, reason="registration not asked for")
    return _register(parent, report, best, run_id)


def _refit_and_measure(
    parent: CapturedRun, experiment: str, data: SearchData, constraints: Constraints, best: TrialResult
) -> tuple[str, float | None, Measurement, tuple[ConstraintCheck, ...]] | str:
    """Refit, test, log in the trial's form and re-measure; or why the refit's form cannot ship (a refused ONNX)."""
    from reprise.automl.forms import deployable
    from reprise.tracking.models import fetch_model, log_model
    from reprise.tracking.records import log_files
    from reprise.tracking.runs import start_run

    interpretability = FAMILIES[str(best.params["family"])].interpretability
    tags = {
        "mlflow.parentRunId": parent.run_id,
        "reprise.automl": "winner",
        "reprise.automl.trial": str(best.number),
        "reprise.automl.family": str(best.params["family"]),
        "reprise.automl.interpretability": interpretability,
        "reprise.automl.form": best.form,
    }
    with start_run(
        experiment,
        params={**best.params, "trial": best.number, "seed": best.seed},
        seed=best.seed,
        run_name="winner",
        tags=tags,
        command=["reprise", "automl", "replay", parent.run_id, "--trial", str(best.number)],
        nested=True,
        autolog=False,  # it logs its own params, metrics and models
        settings=parent.settings,
    ) as run:
        model = fit_model(best.params, data, data.train, best.seed)
        artifact, predictions, equivalence, refused = deployable(model, best.form, data)
        if refused:
            return f"trial {best.number} refit: {refused}"
        test_score = score_holdout(model, data, constraints)
        example = data.features.iloc[data.train[:5]]
        logged = log_model(artifact, example, predictions=predictions, threads=constraints.threads)
        with tempfile.TemporaryDirectory(prefix="reprise-automl-") as tmp:
            local = fetch_model(parent.settings, logged, Path(tmp))
            measurement = measure_folder(local, interpretability, data, constraints, best.seed)
        checks = check_constraints(measurement, best.metrics, constraints)
        feasible = all(check.ok for check in checks)
        scores = {} if test_score is None else {"test_score": test_score}
        run.log_metrics(
            {
                **best.metrics,
                **measurement.metrics(),
                **scores,
                "feasible": float(feasible),
                **{f"slack_{check.name}": check.slack for check in checks},
            }
        )
        report = {
            "trial": best.number,
            "params": best.params,
            "seed": best.seed,
            "cv_score": best.score,
            "test_score": test_score,
            "constraints": constraints.model_dump(mode="json"),
            "measured": measurement.to_dict(),
            "measured_during_search": best.measurement.to_dict(),
            "form": best.form,
            "equivalence": None if equivalence is None else equivalence.to_dict(),
            "checks": [check.to_dict() for check in checks],
            "feasible": feasible,
            "model_uri": logged.model_uri,
        }
        log_files(parent.settings, run.run_id, {layout.CONSTRAINT_REPORT: canonical_json(report)})
        if feasible and constraints.task == "classification":
            _explain(model, data)
    return run.run_id, test_score, measurement, checks


def _explain(model: Any, data: SearchData) -> None:
    """SHAP and importance plots of the winner's estimator, on the held-out rows as the estimator sees them."""
    import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information

    from reprise.tracking.artifacts import log_model_explanations

    prepare, estimator = model.named_steps["prepare"], model.named_steps["model"]
    held = data.features.iloc[data.test]
    seen = pd.DataFrame(prepare.transform(held), columns=[str(n) for n in prepare.get_feature_names_out()])
    with warnings.catch_warnings():
        # The estimator was fitted inside the pipeline on an unnamed array; the names here only label the plots.
        warnings.filterwarnings("ignore", message="X has feature names", category=UserWarning)
        # shap 0.51's beeswarm on matplotlib 3.10+ (not ours to fix; the plot is right).
        warnings.filterwarnings(
            "ignore", message="The set_(bad|over|under) function", category=PendingDeprecationWarning
        )
        log_model_explanations(estimator, seen, data.target[data.test], task="classification")


def _register(parent: CapturedRun, report: WinnerReport, best: TrialResult, run_id: str) -> WinnerReport:
    from reprise.registry.lifecycle import register_model, set_model_alias

    name = report.model_name or ""
    registration = register_model(run_id, name, model_type=str(best.params["family"]), settings=parent.settings)
    set_model_alias(name, CANDIDATE_ALIAS, registration.version, settings=parent.settings)
    return _replace(report, registered=True, version=registration.version)


def _summary(trial: TrialResult) -> dict[str, Any]:
    return {
        "trial": trial.number,
        "family": trial.params["family"],
        "score": trial.score,
        "feasible": trial.feasible,
        "failures": describe_failures(trial.checks),
        "run_id": trial.run_id,
    }


def _replace(report: WinnerReport, **changes: Any) -> WinnerReport:
    import dataclasses

    return dataclasses.replace(report, **changes)
