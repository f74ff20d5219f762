"""``reprise init``: make a folder a Reprise project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reprise.cli._output import emit, say

__all__ = ["register"]


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to make a project (created if missing).")] = Path(),
    team: Annotated[
        str | None, typer.Option("--team", help="The team's MLflow server (what `reprise team serve` printed).")
    ] = None,
    team_store: Annotated[
        str | None, typer.Option("--team-store", help="The team's metadata store (postgresql://USER@HOST:5432/DB).")
    ] = None,
    dvc_remote: Annotated[
        str | None, typer.Option("--dvc-remote", help="The shared DVC remote (a folder or any DVC remote URL).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make DIRECTORY a Reprise project: git init, dvc init, reprise.toml, git-ignored .reprise/ and its stores.

    Safe to run again: it only does what is missing and says what it did. With --team it points the project at a
    team's server, metadata store and DVC remote (credentials stay in your environment, never in reprise.toml).
    """
    from reprise.project import TeamLink, init_project

    if team is None and (team_store is not None or dvc_remote is not None):
        raise typer.BadParameter("--team-store and --dvc-remote go with --team URL")
    link = None if team is None else TeamLink(tracking_uri=team, store_uri=team_store, dvc_remote=dvc_remote)
    report = init_project(directory, create_stores=True, team=link)
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
