"""``reprise run -- CMD``: run any command as a captured MLflow run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import emit, say

__all__ = ["register"]


def run(
    ctx: typer.Context,
    command: Annotated[list[str], typer.Argument(help="The command to run, after `--`.", show_default=False)],
    experiment: Annotated[str | None, typer.Option("--experiment", "-e", help="MLflow experiment name.")] = None,
    inputs: Annotated[
        list[Path] | None, typer.Option("--input", "-i", help="A file or folder the command reads (repeatable).")
    ] = None,
    outputs: Annotated[
        list[Path] | None, typer.Option("--output", "-o", help="A file or folder the command writes (repeatable).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Root seed (default: from reprise.toml).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="MLflow run name.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON on stdout.")] = False,
) -> None:
    """Run COMMAND as a captured MLflow run and exit with its exit code.

    Seeds, git state (with the uncommitted patch), environment and input hashes are recorded; the child gets
    MLFLOW_RUN_ID so its own MLflow logging lands in the same run. Example:

        reprise run -i data/train.csv -o model/ -- python train.py --epochs 3
    """
    from reprise.tracking.runs import run_command

    settings = settings_for(ctx, experiment=experiment, seed=seed)
    code, record = run_command(
        command,
        inputs=inputs or [],
        outputs=outputs or [],
        run_name=name,
        settings=settings,
    )
    data = {
        "run_id": record.run_id,
        "experiment_id": record.experiment_id,
        "status": record.status,
        "exit_code": code,
        "git_commit": record.code.git.commit,
        "git_dirty": record.code.git.dirty,
        "data_digest": record.data_digest,
        "env_digest": record.environment_digest,
        "metrics": record.outputs.metrics,
    }

    def render() -> None:
        say(f"run {record.run_id} {record.status.lower()} (exit code {code}); record: reprise/record.json")

    emit(data, as_json=json_output, render=render)
    if code != 0:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``run`` to the root app; everything after ``--`` is the command."""
    app.command(context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})(run)
