"""The constrained search: seeded TPE over model families, every trial measured on the artifact that would ship.

Reproducible at any worker count. Trials are asked from Optuna in rounds of ``batch`` (a setting of the search,
not of the machine); their fold scores are computed in this process or on ``workers`` Dask worker processes (or an
existing cluster: :mod:`reprise.automl.executor`), each a pure function of the trial's parameters and seed; then,
one at a time and in trial-number order, each trial's artifact is measured here (nothing else runs while a latency
is timed), logged as a nested MLflow run, and told to Optuna with its constraint values. The sampler therefore sees
the same history, in the same order, whether one worker or eight evaluated the round: the same seed gives the same
trials and the same winner. The study is kept in Optuna's database storage (the project's SQLite file, or the
team's PostgreSQL). (A measured latency sits within noise of its limit only by
bad luck; the figures and their host are recorded so such a case can be seen.)

Constraints reach Optuna through ``Trial.set_constraint`` (values <= 0 are feasible), so TPE steers away from
infeasible regions and ``study.best_trial`` is a feasible one. Each family's cheap starting configuration is
enqueued first. ``time_budget`` stops the search after the round in which it ran out (the first round always
runs): the trials run are still reproducible, their number depends on the machine.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reprise._canonical import canonical_json
from reprise.automl.evaluate import SearchData, TrialEvaluation, split_data
from reprise.automl.executor import study_storage, trial_runner
from reprise.automl.families import FAMILIES, check_families, suggest_params
from reprise.automl.forms import FormOutcome, choose_form, measure_forms
from reprise.automl.leakage import LeakFinding, screen_leaks
from reprise.automl.presets import Constraints, resolve_constraints
from reprise.automl.table import file_sha256, split_target
from reprise.capture import layout
from reprise.config import load_settings
from reprise.data.tables import read_table
from reprise.errors import ConfigError, MissingExtraError
from reprise.seeding import derive_seed

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from reprise.automl.checks import ConstraintCheck
    from reprise.automl.executor import TrialRunner
    from reprise.automl.measure import Measurement
    from reprise.automl.winner import WinnerReport
    from reprise.config import Settings
    from reprise.tracking.runs import CapturedRun

__all__ = ["SearchResult", "TrialResult", "automl", "best_feasible", "load_search_data", "trial_seed"]

#: Trials asked per round: fixed, so the sampler's history does not depend on the worker count.
DEFAULT_BATCH: Final = 4


@dataclass(frozen=True)
class TrialResult:
    """One trial: what was tried, how it scored, what its artifact measured, and whether it fits.

    Attributes:
        number: The Optuna trial number (0-based).
        params: The configuration (``family`` and that family's parameters).
        seed: The trial's seed, derived from the search seed and the trial number.
        score: The mean cross-validated objective.
        metrics: Per-fold and mean metrics.
        measurement: The shipped form's size, latency and interpretability class.
        checks: Every limit against the shipped form's figures.
        feasible: Every limit holds.
        run_id: The trial's nested MLflow run.
        form: The form it would ship in (``native`` or ``onnx``, :mod:`reprise.automl.forms`).
        forms: Every form tried: its figures, its checks, its equivalence check, or why it was refused.
    """

    number: int
    params: dict[str, Any]
    seed: int
    score: float
    metrics: dict[str, float]
    measurement: Measurement
    checks: tuple[ConstraintCheck, ...]
    feasible: bool
    run_id: str
    form: str = "native"
    forms: tuple[FormOutcome, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (``automl_trials.json``)."""
        return {
            "number": self.number,
            "params": self.params,
            "seed": self.seed,
            "score": self.score,
            "metrics": self.metrics,
            "measurement": self.measurement.to_dict(),
            "checks": [check.to_dict() for check in self.checks],
            "feasible": self.feasible,
            "run_id": self.run_id,
            "form": self.form,
            "forms": [outcome.to_dict() for outcome in self.forms],
        }


@dataclass(frozen=True)
class SearchResult:
    """A finished search.

    Attributes:
        run_id: The parent MLflow run of the search.
        constraints: The limits the search was held to (with their presets' sha256).
        trials: Every trial, in trial-number order.
        leaks: What the leakage guard found (excluded, or kept on request).
        winner: The winner's refit, test score, re-measurement and registration (or why nothing was registered).
        stopped_by: ``trials`` or ``time_budget``.
        failed: Trials whose configuration could not be fitted, saved or served: number, params, seed, error.
    """

    run_id: str
    constraints: Constraints
    trials: tuple[TrialResult, ...]
    leaks: tuple[LeakFinding, ...]
    winner: WinnerReport
    stopped_by: str = "trials"
    failed: tuple[dict[str, Any], ...] = ()
    seconds: float = field(default=0.0, compare=False)

    @property
    def feasible(self) -> tuple[TrialResult, ...]:
        """The trials whose every limit held."""
        return tuple(trial for trial in self.trials if trial.feasible)

    @property
    def best(self) -> TrialResult | None:
        """The best feasible trial by cross-validated score (ties: the earlier trial), if any."""
        return best_feasible(self.trials)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "run_id": self.run_id,
            "constraints": self.constraints.model_dump(mode="json"),
            "trials": [trial.to_dict() for trial in self.trials],
            "leaks": [finding.to_dict() for finding in self.leaks],
            "winner": self.winner.to_dict(),
            "stopped_by": self.stopped_by,
            "failed": list(self.failed),
            "seconds": self.seconds,
        }


def best_feasible(trials: Sequence[TrialResult]) -> TrialResult | None:
    """The feasible trial with the highest score; the earliest among equals."""
    feasible = [trial for trial in trials if trial.feasible]
    return max(feasible, key=lambda trial: (trial.score, -trial.number)) if feasible else None


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial ``number`` of a search seeded with ``seed``."""
    return derive_seed(seed, f"automl-trial-{number}")


def load_search_data(
    path: str | Path, target: str | None, drop: Sequence[str], constraints: Constraints, seed: int
) -> SearchData:
    """Read the data, drop ``drop`` and split it as the search seeded with ``seed`` does (also used by replay)."""
    features, labels = split_target(read_table(path), target, tuple(drop))
    return split_data(features, labels, constraints, seed)


def automl(
    data: str | Path,
    target: str | None = None,
    *,
    use_case: str = "predictive_maintenance",
    environment: str | None = None,
    constraints_file: str | Path | None = None,
    trials: int = 20,
    time_budget: float | None = None,
    seed: int | None = None,
    workers: int = 1,
    cluster: str | None = None,
    batch: int = DEFAULT_BATCH,
    keep: Sequence[str] = (),
    model_name: str | None = None,
    register: bool = True,
    experiment: str | None = None,
    progress: Callable[[TrialResult, TrialResult | None, int], None] | None = None,
    settings: Settings | None = None,
) -> SearchResult:
    """Search for the best model that meets a use case's and an environment's limits, measured on what ships.

    Columns that give the target away are excluded first (see :mod:`reprise.automl.leakage`). Each trial is
    cross-validated, its artifact saved as ``reprise.log_model`` would log it, sized, loaded the way
    ``reprise serve`` loads it and timed one row at a time, in each deployable form the constraints allow (native;
    ONNX when it answers the same: :mod:`reprise.automl.forms`); it is logged as a nested run of the search. The
    best feasible trial is then refit on every non-test row, scored once on the held-out test rows, measured again
    on the logged artifact, and registered with the alias ``candidate`` only if every limit still holds.

    Args:
        data: A CSV or Parquet file inside the project.
        target: The label column (binary); optional for ``anomaly_detection``.
        use_case: A use-case preset (``reprise automl presets``).
        environment: An environment preset (``edge``, ``cloud``), combined limit by limit, the stricter winning.
        constraints_file: A TOML file whose fields override the combined presets.
        trials: How many trials to run.
        time_budget: Stop after the round in which this many seconds have passed.
        seed: The search's root seed (default: the project's).
        workers: Dask worker processes that cross-validate a round's trials (1: in this process, no Dask needed);
            does not change the result.
        cluster: A running Dask scheduler (``tcp://host:8786``) to evaluate trials on instead of local workers.
        batch: Trials asked per round; part of the result (recorded).
        keep: Columns the leakage guard must not exclude (recorded).
        model_name: Registered model name (default: ``automl-<use_case>``).
        register: Register the winner when it meets every limit.
        experiment: MLflow experiment (default: the project's).
        progress: Called after each trial with the trial, the best feasible trial so far and the feasible count.
        settings: Project settings (default: loaded from the working directory).

    Returns:
        The search, its trials and the winner's report (``result.winner.registered`` says whether it shipped).

    Raises:
        ConfigError: Unknown preset or family, malformed constraints file, or no target where one is needed.
        DataError: The data cannot be read or split.
        MissingExtraError: Optuna (the ``automl`` extra) is not installed, the constraints allow the ONNX form and
            skl2onnx / onnxruntime (the ``edge`` extra) are not, or more than one worker (or a cluster) is asked
            for without Dask (the ``team`` extra).

    Example:
        >>> result = reprise.automl("data/sensors.csv", "failure", environment="edge", trials=30)  # doctest: +SKIP
        >>> result.winner.registered, result.best.measurement.latency_p95_ms                       # doctest: +SKIP
        (True, 0.41)
    """
    optuna = _optuna()
    from reprise.automl.winner import settle_winner
    from reprise.tracking.records import log_files
    from reprise.tracking.runs import start_run

    started = time.perf_counter()
    settings = settings or load_settings()
    seed = settings.seed if seed is None else seed
    constraints = resolve_constraints(use_case, environment, constraints_file)
    families = check_families(constraints.families, constraints.task, constraints.interpretability)
    if "onnx" in constraints.forms:
        from reprise.automl.onnx_form import require_onnx

        require_onnx()
    if target is None and constraints.task == "classification":
        raise ConfigError(f"use case '{use_case}' needs a target column", hint="reprise automl run DATA --target T")
    if trials < 1 or workers < 1 or batch < 1:
        raise ConfigError("trials, workers and batch must be at least 1", hint="--trials 20 --workers 2")
    if workers > 1 or cluster is not None:
        from reprise._cluster import require_dask

        require_dask()
    features, labels = split_target(read_table(data), target)
    leaks = tuple(screen_leaks(features, labels, keep))
    dropped = sorted({column for finding in leaks if not finding.kept for column in finding.columns})
    searched = split_data(features.drop(columns=dropped), labels, constraints, seed)
    experiment_name = experiment or settings.experiment
    spec = {
        "data": {"path": _project_path(settings, Path(data)), "sha256": file_sha256(data)},
        "target": target,
        "keep": sorted(keep),
        "excluded": dropped,
        "leaks": [finding.to_dict() for finding in leaks],
        "constraints": constraints.model_dump(mode="json"),
        "families": list(families),
        "seed": seed,
        "batch": batch,
        "trials": trials,
        "time_budget": time_budget,
        "workers": workers,
        "cluster": cluster,
        "experiment": experiment_name,
    }
    tags = {
        "reprise.automl": "search",
        "reprise.automl.use_case": use_case,
        "reprise.automl.environment": environment or "",
        "reprise.automl.presets": ",".join(f"{s.id}@sha256:{s.sha256}" for s in constraints.sources),
        "reprise.automl.excluded": ",".join(dropped),
        "reprise.automl.kept": ",".join(sorted(keep)),
    }
    params = {"use_case": use_case, "environment": environment, "trials": trials, "batch": batch, "seed": seed}
    with start_run(
        experiment_name,
        params={**params, "target": target, "workers": workers},
        inputs=[data],
        seed=seed,
        run_name=f"automl-{use_case}",
        tags=tags,
        autolog=False,  # it logs its own params, metrics and models
        settings=settings,
    ) as parent:
        with study_storage(settings) as storage, trial_runner(searched, constraints, workers, cluster) as runner:
            study = _study(optuna, storage, f"reprise-automl-{parent.run_id}", seed, families, batch)
            results, failed, stopped_by = _search(
                study, runner, parent, searched, constraints, families, spec, started, progress
            )
        spec.update(stopped_by=stopped_by, failed=failed)
        files = {
            layout.AUTOML_SEARCH: canonical_json(spec),
            layout.AUTOML_TRIALS: canonical_json([trial.to_dict() for trial in results]),
        }
        log_files(settings, parent.run_id, files)
        name = model_name or f"automl-{use_case}"
        winner = settle_winner(
            parent, searched, constraints, results, name, experiment=experiment_name, register=register
        )
        best = best_feasible(results)
        summary = {
            "trials": float(len(results)),
            "failed_trials": float(len(failed)),
            "feasible_trials": float(sum(t.feasible for t in results)),
        }
        if best is not None:
            summary["best_cv_score"] = best.score
        if winner.test_score is not None:
            summary["test_score"] = winner.test_score
        parent.log_metrics(summary)
    return SearchResult(
        run_id=parent.run_id,
        constraints=constraints,
        trials=tuple(results),
        leaks=leaks,
        winner=winner,
        stopped_by=stopped_by,
        failed=tuple(failed),
        seconds=time.perf_counter() - started,
    )


def _search(
    study: Any,
    runner: TrialRunner,
    parent: CapturedRun,
    data: SearchData,
    constraints: Constraints,
    families: tuple[str, ...],
    spec: dict[str, Any],
    started: float,
    progress: Callable[[TrialResult, TrialResult | None, int], None] | None,
) -> tuple[list[TrialResult], list[dict[str, Any]], str]:
    """Ask, evaluate (on the runner's workers), measure and tell, round by round.

    Returns:
        The trials, the failed trials, and why the search stopped.
    """
    from optuna.trial import TrialState

    total, batch, budget, seed = spec["trials"], spec["batch"], spec["time_budget"], spec["seed"]
    results: list[TrialResult] = []
    failed: list[dict[str, Any]] = []
    while len(results) + len(failed) < total:
        ran = results or failed  # the first round always runs: a search with no trial answers nothing
        if budget is not None and ran and time.perf_counter() - started >= budget:
            return results, failed, "time_budget"
        asked = [study.ask() for _ in range(min(batch, total - len(results) - len(failed)))]
        configs = [suggest_params(trial, families) for trial in asked]
        seeds = [trial_seed(seed, trial.number) for trial in asked]
        futures = [runner.submit(config, trial_seed_) for config, trial_seed_ in zip(configs, seeds, strict=True)]
        for trial, config, trial_seed_, future in zip(asked, configs, seeds, futures, strict=True):
            interpretability = FAMILIES[config["family"]].interpretability
            try:
                evaluation = future.result()
                metrics = evaluation.metrics()
                forms = measure_forms(evaluation.model, interpretability, metrics, data, constraints, trial_seed_)
                choose_form(forms)  # raises when every form was refused: the trial fails
            except Exception as exc:  # a configuration that cannot be fitted or served fails alone, not the search
                study.tell(trial, state=TrialState.FAIL)
                failed.append({"number": trial.number, "params": config, "seed": trial_seed_, "error": repr(exc)})
                continue
            result = _log_trial(parent, spec["experiment"], trial.number, config, trial_seed_, evaluation, forms)
            for check in result.checks:
                trial.set_constraint(check.name, check.violation)
            study.tell(trial, evaluation.score)
            results.append(result)
            if progress is not None:
                progress(result, best_feasible(results), sum(r.feasible for r in results))
    return results, failed, "trials"


def _log_trial(
    parent: CapturedRun,
    experiment: str,
    number: int,
    config: dict[str, Any],
    seed: int,
    evaluation: TrialEvaluation,
    forms: tuple[FormOutcome, ...],
) -> TrialResult:
    """Log one trial as a nested run of the search: params, seed, metrics, figures and slacks in batched calls.

    The shipped form's figures are logged under their plain names; with several forms, each measured form's size
    and p95 latency also under ``<form>_size_bytes`` and ``<form>_latency_p95_ms``, and a refusal as a tag.
    """
    from reprise.tracking.runs import start_run

    shipped = choose_form(forms)
    measurement, checks = shipped.measurement, shipped.checks
    assert measurement is not None  # choose_form returns a measured form
    feasible = shipped.feasible
    tags = {
        "mlflow.parentRunId": parent.run_id,
        "reprise.automl": "trial",
        "reprise.automl.trial": str(number),
        "reprise.automl.family": str(config["family"]),
        "reprise.automl.interpretability": measurement.interpretability,
        "reprise.automl.feasible": str(feasible).lower(),
        "reprise.automl.model_format": measurement.model_format,
        "reprise.automl.form": shipped.form,
        "reprise.automl.host": json.dumps(measurement.host, sort_keys=True),
    }
    tags.update({f"reprise.automl.{o.form}_refused": o.refused[:500] for o in forms if o.refused})
    command = ["reprise", "automl", "replay", parent.run_id, "--trial", str(number)]
    metrics = evaluation.metrics()
    with start_run(
        experiment,
        params={**config, "trial": number, "seed": seed},
        seed=seed,
        run_name=f"trial-{number}",
        tags=tags,
        command=command,
        nested=True,
        autolog=False,  # it logs its own params, metrics and models
        settings=parent.settings,
    ) as run:
        logged = {**metrics, **measurement.metrics(), "feasible": float(feasible)}
        logged.update({f"slack_{check.name}": check.slack for check in checks})
        if len(forms) > 1:
            for outcome in forms:
                if outcome.measurement is not None:
                    logged[f"{outcome.form}_size_bytes"] = float(outcome.measurement.size_bytes)
                    logged[f"{outcome.form}_latency_p95_ms"] = outcome.measurement.latency_p95_ms
        run.log_metrics(logged)
    return TrialResult(
        number,
        dict(config),
        seed,
        evaluation.score,
        metrics,
        measurement,
        checks,
        feasible,
        run.run_id,
        form=shipped.form,
        forms=forms,
    )


def _study(optuna: Any, storage: Any, study_name: str, seed: int, families: tuple[str, ...], batch: int) -> Any:
    """A maximising study in ``storage`` with a seeded TPE sampler and each family's starting configuration enqueued.

    The sampler draws at random until the starters and one more round have been told (Optuna's fixed 10 would
    spend half of a 20-trial budget at random), then models the good and the feasible regions.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(
        seed=derive_seed(seed, "automl-sampler"), n_startup_trials=len(families) + batch
    )
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage, study_name=study_name)
    for name in families:
        study.enqueue_trial({"family": name, **FAMILIES[name].starter})
    return study


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise MissingExtraError("optuna", "automl") from exc
    return optuna


def _project_path(settings: Settings, path: Path) -> str:
    """``path`` relative to the project (a replay runs from any folder), or absolute when outside it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(settings.project_dir.resolve()).as_posix()
    except ValueError:
        return str(resolved)
