"""Constrained AutoML vs plain Optuna TPE (no constraints) and random search: same data, same trial budget.

Target (issue 15): the figure that matters is the score of the best model that meets the preset, as a ratio
against each baseline measured in this same run. All three arms search the same families and parameter space
(reprise.automl.families) and score trials with the same cross-validation (reprise.automl.evaluate) on the same
split. The baselines do not measure while they search (that is what they are); afterwards every one of their trials'
artifacts is measured exactly as Reprise measures (saved as reprise.log_model would log it, loaded the way
`reprise serve` loads it, single rows timed) so "best model that meets the preset" means the same thing for all
three. The baselines measure the native (skops) form only: an ONNX form is Reprise's own search dimension (the edge
preset allows it). The winner's latency is measured twice in each form that can ship, to show its spread and what
the ONNX form changes.

    uv run python bench/bench_automl.py [--trials 20] [--rows 3000] [--seed 7] [--environment edge] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_GIT = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}


def _data(rows: int, seed: int) -> object:
    """Sensor data whose failures depend on thresholds and interactions (trees beat a linear model, and big
    ensembles beat small ones by a little)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8))
    logit = (
        2.0 * (x[:, 0] > 0.8)
        + 1.5 * x[:, 1] * x[:, 2]
        - 1.2 * np.abs(x[:, 3])
        + 0.8 * np.sin(2 * x[:, 4])
        + 0.5 * x[:, 5]
        - 1.8
    )
    frame = pd.DataFrame(x, columns=[f"sensor_{i}" for i in range(8)])
    frame["failure"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _project(root: Path, rows: int, seed: int) -> Path:
    from reprise.project import init_project

    init_project(root)
    _data(rows, seed).to_csv(root / "sensors.csv", index=False)  # type: ignore[attr-defined]
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=root, check=True, env={**os.environ, **_GIT})
    return root


def _baseline(sampler_name: str, trials: int, seed: int, data: object, constraints: object) -> tuple[list, float]:
    """A plain Optuna search (no constraints, no measuring, no starting configurations) over the same space."""
    import optuna

    from reprise.automl.evaluate import evaluate_trial
    from reprise.automl.families import suggest_params

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=seed) if sampler_name == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    found = []
    started = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        params = suggest_params(trial, constraints.families)  # type: ignore[attr-defined]
        evaluation = evaluate_trial(params, data, constraints, seed + trial.number)  # type: ignore[arg-type]
        study.tell(trial, evaluation.score)
        found.append((trial.number, params, evaluation))
    return found, time.perf_counter() - started


def _measure_all(found: list, data: object, constraints: object, seed: int) -> tuple[list, float]:
    from reprise.automl.checks import check_constraints
    from reprise.automl.families import FAMILIES
    from reprise.automl.measure import measure_model

    started = time.perf_counter()
    rows = []
    for number, params, evaluation in found:
        family = FAMILIES[params["family"]]
        measured = measure_model(evaluation.model, family.interpretability, data, constraints, seed)  # type: ignore[arg-type]
        checks = check_constraints(measured, evaluation.metrics(), constraints)  # type: ignore[arg-type]
        rows.append((number, params, evaluation.score, measured, all(check.ok for check in checks)))
    return rows, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--use-case", default="predictive_maintenance")
    parser.add_argument("--environment", default="edge")
    parser.add_argument("--workers", type=int, default=1, help="Dask worker processes for Reprise's trials")
    args = parser.parse_args()

    from reprise.automl.measure import measure_model
    from reprise.automl.presets import resolve_constraints
    from reprise.automl.search import automl, load_search_data
    from reprise.config import load_settings

    root = _project(Path(tempfile.mkdtemp(prefix="bench-automl-")) / "project", args.rows, args.seed)
    os.chdir(root)
    settings = load_settings(root)
    constraints = resolve_constraints(args.use_case, args.environment)
    print(
        f"data: {args.rows} rows, 8 sensors; preset {args.use_case} + {args.environment}: "
        f"<= {constraints.max_size_mb} MB, p95 <= {constraints.max_latency_ms} ms, {constraints.interpretability}; "
        f"{args.trials} trials per arm; host {os.uname().nodename}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}"
    )

    started = time.perf_counter()
    result = automl(
        root / "sensors.csv",
        "failure",
        use_case=args.use_case,
        environment=args.environment,
        trials=args.trials,
        seed=args.seed,
        workers=args.workers,
        register=False,
        settings=settings,
    )
    reprise_wall = time.perf_counter() - started
    best = result.best
    reprise_score = best.score if best is not None else float("nan")
    print(
        f"reprise constrained TPE: {len(result.feasible)}/{len(result.trials)} trials feasible; best feasible "
        f"cv {reprise_score:.4f} (trial {best.number if best else '-'}, "
        f"{best.params['family'] if best else '-'}, {best.form if best else '-'} form); wall {reprise_wall:.1f} s "
        f"(measuring every trial included, {args.workers} worker(s))"
    )
    shipped_as_onnx = [trial.number for trial in result.feasible if trial.form == "onnx"]
    print(f"feasible trials shipped as ONNX (native form over a limit): {shipped_as_onnx or 'none'}")

    data = load_search_data(root / "sensors.csv", "failure", [], constraints, args.seed)
    arms = {}
    for name in ("tpe", "random"):
        found, search_wall = _baseline(name, args.trials, args.seed, data, constraints)
        rows, measure_wall = _measure_all(found, data, constraints, args.seed)
        feasible = [row for row in rows if row[4]]
        top = max(rows, key=lambda row: row[2])
        best_feasible = max(feasible, key=lambda row: row[2]) if feasible else None
        arms[name] = best_feasible[2] if best_feasible else float("nan")
        print(
            f"plain {name:<6}: {len(feasible)}/{len(rows)} trials feasible (measured afterwards); best overall cv "
            f"{top[2]:.4f} ({top[1]['family']}, {top[3].size_mb:.1f} MB, p95 {top[3].latency_p95_ms:.1f} ms, "
            f"{'meets' if top[4] else 'BREAKS'} the preset); best feasible cv "
            f"{arms[name]:.4f}; search wall {search_wall:.1f} s (+{measure_wall:.1f} s measuring afterwards)"
        )

    for name, score in arms.items():
        print(f"ratio best-feasible score reprise / plain {name}: {reprise_score / score:.3f}")

    if best is not None:
        from reprise.automl.evaluate import fit_model
        from reprise.automl.families import FAMILIES
        from reprise.automl.forms import deployable

        model = fit_model(best.params, data, data.train, best.seed)
        for form in constraints.forms:
            artifact, predictions, _, refused = deployable(model, form, data)
            if refused:
                print(f"winner, {form} form: {refused}")
                continue
            for attempt in (1, 2):
                interpretability = FAMILIES[best.params["family"]].interpretability
                measured = measure_model(artifact, interpretability, data, constraints, 1, predictions=predictions)
                print(
                    f"winner latency, {form} form, measurement {attempt}: p50 {measured.latency_p50_ms:.2f} ms, "
                    f"p95 {measured.latency_p95_ms:.2f} ms, p99 {measured.latency_p99_ms:.2f} ms, "
                    f"{measured.size_mb:.2f} MB ({measured.rows_timed} rows, load {measured.host['load_1m']:.1f})"
                )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
