"""``reprise init``: make a folder a Reprise project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reprise.cli._output import emit, say

__all__ = ["register"]


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to make a project (created if missing).")] = Path(),
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make DIRECTORY a Reprise project: git init, dvc init, reprise.toml, git-ignored .reprise/ and its stores.

    Safe to run again: it only does what is missing and says what it did.
    """
    from reprise.project import init_project

    report = init_project(directory, create_stores=True)
    data = {"project_dir": str(report.project_dir), "actions": report.actions}

    def render() -> None:
        for action in report.actions:
            say(f"[green]✓[/green] {action}")
        if not report.actions:
            say(f"{report.project_dir} is already a Reprise project: nothing to do")
        else:
            say(f"Reprise project ready in {report.project_dir}")

    emit(data, as_json=json_output, render=render)


def register(app: typer.Typer) -> None:
    """Add the project commands to the root app."""
    app.command()(init)
