"""``reprise automl``: constrained search with measured limits, the shipped presets, and replay of one trial."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import emit, err_console, out_console, say

if TYPE_CHECKING:
    from reprise.automl.search import SearchResult, TrialResult

__all__ = ["app"]

app = typer.Typer(
    help="Constrained AutoML: the best model that meets a use case's and a device's limits, measured on what ships.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


@app.command()
def run(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="A CSV or Parquet file.", show_default=False)],
    target: Annotated[str | None, typer.Option("--target", "-t", help="The label column (binary).")] = None,
    use_case: Annotated[str, typer.Option("--use-case", "-u", help="A use-case preset.")] = "predictive_maintenance",
    environment: Annotated[str | None, typer.Option("--environment", "-e", help="An environment preset.")] = None,
    constraints_file: Annotated[
        Path | None, typer.Option("--constraints-file", help="A TOML file overriding any preset field.")
    ] = None,
    trials: Annotated[int, typer.Option("--trials", "-n", help="Trials to run.")] = 20,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Stop after the round in which this many seconds passed.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Root seed (default: from reprise.toml).")] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Dask worker processes evaluating trials (same result).")
    ] = 1,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="A running Dask scheduler (tcp://HOST:8786) to evaluate trials on.")
    ] = None,
    keep: Annotated[
        list[str] | None, typer.Option("--keep", help="A column the leakage guard must keep (repeatable).")
    ] = None,
    model_name: Annotated[
        str | None, typer.Option("--model-name", help="Registered model name (default: automl-<use case>).")
    ] = None,
    no_register: Annotated[bool, typer.Option("--no-register", help="Measure the winner, register nothing.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Search for the best model that meets every limit, and register it as `candidate` if it still does.

    Exits 3 when nothing was registered (no trial met every limit, or the winner broke one when re-measured);
    the nearest trials are listed. Example:

        reprise automl run data/sensors.csv --target failure --environment edge --trials 40 --workers 2
    """
    from reprise.automl.search import automl

    settings = settings_for(ctx)
    console = err_console()

    def progress(trial: TrialResult, best: TrialResult | None, feasible: int) -> None:
        mark = "[green]fits[/]" if trial.feasible else "[red]over[/]"
        if trial.form != "native":
            mark += f" as {trial.form}"
        lead = f"best {best.score:.4f} (trial {best.number})" if best is not None else "no feasible trial yet"
        console.print(
            f"trial {trial.number:>3} {trial.params['family']:<20} score {trial.score:.4f} {mark} "
            f"{trial.measurement.size_mb:.2f} MB p95 {trial.measurement.latency_p95_ms:.1f} ms | {lead}, "
            f"{feasible} feasible",
            highlight=False,
        )

    result = automl(
        data,
        target,
        use_case=use_case,
        environment=environment,
        constraints_file=constraints_file,
        trials=trials,
        time_budget=time_budget,
        seed=seed,
        workers=workers,
        cluster=cluster,
        keep=keep or [],
        model_name=model_name,
        register=not no_register,
        progress=progress,
        settings=settings,
    )
    emit(result.to_dict(), as_json=json_output, render=lambda: _render(result))
    if not result.winner.registered and not no_register:
        raise typer.Exit(3)


@app.command()
def presets(json_output: JsonFlag = False) -> None:
    """List the shipped use-case and environment presets and their limits."""
    from reprise.automl.presets import list_presets

    found = {name: preset.model_dump(mode="json", exclude_none=True) for name, preset in list_presets().items()}

    def render() -> None:
        from rich.table import Table

        table = Table("Preset", "Kind", "Limits", "Description")
        for name, preset in found.items():
            limits = ", ".join(f"{k}={v}" for k, v in preset.items() if k not in ("kind", "description", "families"))
            table.add_row(name, preset["kind"], limits, preset.get("description", ""))
        out_console().print(table)

    emit(found, as_json=json_output, render=render)


@app.command()
def replay(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The search's run id.", show_default=False)],
    trial: Annotated[int, typer.Option("--trial", help="The trial number to re-run.")],
    json_output: JsonFlag = False,
) -> None:
    """Re-run one trial of a search; exit 1 unless its cross-validation metrics come out exactly the same."""
    from reprise.automl.replay import replay_trial

    result = replay_trial(run_id, trial, settings=settings_for(ctx))

    def render() -> None:
        if result.identical:
            say(f"trial {trial} of {run_id}: {len(result.replayed)} metrics identical")
            return
        for name, (before, after) in result.differences.items():
            say(f"{name}: recorded {before!r}, replayed {after!r}")

    emit(result.to_dict(), as_json=json_output, render=render)
    if not result.identical:
        raise typer.Exit(1)


def _render(result: SearchResult) -> None:
    winner = result.winner
    failed = f", {len(result.failed)} failed" if result.failed else ""
    say(f"search {result.run_id}: {len(result.trials)} trials{failed}, {len(result.feasible)} met every limit")
    for item in result.failed:
        say(f"  trial {item['number']} ({item['params']['family']}) failed: {item['error']}")
    for finding in result.leaks:
        verb = "kept (--keep)" if finding.kept else "excluded"
        say(f"leakage guard: {', '.join(finding.columns)} {verb}: {finding.detail}")
    if winner.trial is not None:
        scored = "no test score without labels" if winner.test_score is None else f"test score {winner.test_score:.4f}"
        form = next((trial.form for trial in result.trials if trial.number == winner.trial), "native")
        say(f"winner: trial {winner.trial} ({form} form), {scored}")
        for check in winner.checks:
            say(f"  {check.describe()}")
    if winner.registered:
        say(f"registered {winner.model_name} v{winner.version} with alias candidate")
        return
    say(f"nothing registered: {winner.reason}")
    for item in winner.nearest:
        failures = f" ({item['failures']})" if item["failures"] else ""
        say(f"  nearest: trial {item['trial']} {item['family']} score {item['score']:.4f}{failures}")
