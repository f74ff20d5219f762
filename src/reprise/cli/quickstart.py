"""``reprise quickstart`` and ``reprise ui``: the example project end to end, and the UI to look at it."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reprise.capture.redact import redact_uri
from reprise.cli._context import settings_for
from reprise.cli._output import compact_table, emit, err_console, print_table, say

if TYPE_CHECKING:
    from reprise.quickstart import QuickstartResult, StageResult

__all__ = ["register"]


def quickstart(
    directory: Annotated[Path, typer.Argument(help="Folder for the example project.")] = Path("reprise-quickstart"),
    task: Annotated[str, typer.Option("--task", help="classification or regression.")] = "classification",
    no_run: Annotated[bool, typer.Option("--no-run", help="Write the project but do not run the pipeline.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write a complete example ML project (DVC pipeline, MLflow tracking) and run it end to end.

    Three candidates (RandomForest, XGBoost, LightGBM) are trained as captured MLflow runs with SHAP and
    feature-importance plots; the best is written to best_model_info.json. Nothing is downloaded.
    """
    from reprise.quickstart import QuickstartResult, write_project

    root = write_project(directory, task=task, force=force)  # type: ignore[arg-type]  # checked inside
    say(f"[green]✓[/green] wrote the example project to {root}")
    result = QuickstartResult(project_dir=root, task=task) if no_run else _run_with_progress(root)
    emit(_as_data(result), as_json=json_output, render=lambda: _render(result, ran=not no_run))


def ui(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 5000,
    json_output: Annotated[bool, typer.Option("--json", help="Print the UI's URL as JSON before starting.")] = False,
) -> None:
    """Open the MLflow UI on this project's store (bound to 127.0.0.1)."""
    from reprise.tracking.ui import ui_command

    settings = settings_for(ctx)
    argv, env = ui_command(settings, port=port)
    url = f"http://127.0.0.1:{port}"
    data = {"url": url, "tracking_uri": redact_uri(settings.tracking_uri)}
    emit(data, as_json=json_output, render=lambda: say(f"MLflow UI on {url} (Ctrl+C to stop)"))
    sys.stdout.flush()
    os.execve(argv[0], argv, env)  # noqa: S606 - the UI replaces this process, as `exec mlflow ui` would


def _run_with_progress(root: Path) -> QuickstartResult:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from reprise.quickstart import STAGES, run_pipeline

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console()
    ) as progress:
        tasks = {stage: progress.add_task(f"{stage}: waiting", total=1, start=False) for stage in STAGES}

        def on_stage(stage: str, result: StageResult | None) -> None:
            if result is None:
                progress.start_task(tasks[stage])
                progress.update(tasks[stage], description=f"{stage}: running")
            else:
                state = "done" if result.ran else "up to date"
                progress.update(tasks[stage], completed=1, description=f"{stage}: {state}")

        return run_pipeline(root, on_stage=on_stage)


def _as_data(result: QuickstartResult) -> dict[str, object]:
    return {
        "project_dir": str(result.project_dir),
        "task": result.task,
        "stages": [{"name": s.name, "seconds": round(s.seconds, 2), "ran": s.ran} for s in result.stages],
        "best": result.best,
        "pipeline_run_id": result.pipeline_run_id,
        "tracking_uri": redact_uri(result.tracking_uri),
        "registered_model": result.registered_model,
    }


def _render(result: QuickstartResult, *, ran: bool) -> None:
    here = f"cd {shlex.quote(str(result.project_dir))} &&"
    if not ran:
        say(f"run it with: {here} {_command('dvc', result.project_dir)} repro")
        return
    metric = result.best["metric"]
    candidates = result.best["candidates"]
    names = sorted(next(iter(candidates.values()))["metrics"])
    table = compact_table("model", *names, title=f"candidates (best by {metric}, ★ = best)", keep=("model",))
    for name, candidate in candidates.items():
        mark = " ★" if name == result.best["best_model"] else ""
        values = [f"{candidate['metrics'][key]:.4f}" for key in names]
        table.add_row(f"{name}{mark}", *values)
    print_table(table)
    say(f"runs: {redact_uri(result.tracking_uri)} (pipeline run {result.pipeline_run_id})")
    say(f"best model: {result.best['model_uri']} (best_model_info.json)")
    reprise, dvc = _command("reprise", result.project_dir), _command("dvc", result.project_dir)
    if result.registered_model:
        say(f"registered (gated by params.yaml): {here} {reprise} registry versions {result.registered_model}")
    say(f"look at it: {here} {reprise} ui")
    say(f"change a hyperparameter in params.yaml, then: {here} {dvc} repro && {dvc} metrics diff")


def _command(name: str, where: Path) -> str:
    """How to call ``name`` (installed beside this Reprise) from ``where``, so a printed command works as written.

    As typed when it is on the user's PATH; else through ``uv run`` when this is a uv project's environment
    (``--project`` when ``where`` is outside that project); else by its full path.
    """
    scripts = Path(sys.executable).parent
    found = shutil.which(name)
    # `uv run` puts the environment on PATH for its own child only: the user's shell does not have it.
    if found is not None and Path(found).parent == scripts and "UV_RUN_RECURSION_DEPTH" not in os.environ:
        return name
    venv = Path(sys.prefix)
    if (venv.parent / "pyproject.toml").is_file():
        if where.resolve().is_relative_to(venv.parent.resolve()):
            return f"uv run {name}"
        return f"uv run --project {shlex.quote(str(venv.parent))} {name}"
    return shlex.quote(str(scripts / name))


def register(app: typer.Typer) -> None:
    """Add ``quickstart`` and ``ui`` to the root app."""
    app.command()(quickstart)
    app.command()(ui)
