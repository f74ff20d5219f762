"""``reprise team ...``: run the team's MLflow server, manage members, audit its permissions, verify in batch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reprise.cli._output import emit, say

if TYPE_CHECKING:
    from reprise.team.server import TeamServer

__all__ = ["app"]

app = typer.Typer(
    help="Team mode: a shared MLflow server on PostgreSQL with logins, and batch verification on Dask.",
    no_args_is_help=True,
)


@app.command("serve")
def serve(
    db: Annotated[
        str,
        typer.Option("--db", envvar="REPRISE_TEAM_DB", help="The team's PostgreSQL database (postgresql://...)."),
    ],
    directory: Annotated[
        Path, typer.Option("--dir", help="The server's folder (auth.ini, server.log, artifacts/, dvc-remote/).")
    ] = Path("reprise-team"),
    artifacts: Annotated[
        Path | None, typer.Option("--artifacts", help="Where the server keeps artifacts (default: DIR/artifacts).")
    ] = None,
    dvc_remote: Annotated[
        str | None, typer.Option("--dvc-remote", help="The shared DVC remote (default: the folder DIR/dvc-remote).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to bind (loopback unless --allow-remote).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 5000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server worker processes.")] = 4,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow binding to an interface other than loopback.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the members' settings as JSON.")] = False,
) -> None:
    """Run the team's MLflow server (PostgreSQL, proxied artifacts, basic auth) until Ctrl+C.

    The first admin's password comes from MLFLOW_AUTH_ADMIN_PASSWORD; a database password from the URI is handed
    to the server as PGPASSWORD and written nowhere.
    """
    from reprise.team.server import TeamServerOptions, serve_team

    options = TeamServerOptions(
        db_uri=db,
        directory=directory,
        host=host,
        port=port,
        workers=workers,
        allow_remote=allow_remote,
        artifacts=artifacts,
        dvc_remote=dvc_remote,
    )

    def ready(server: TeamServer) -> None:
        data = {
            "url": server.url,
            "store_uri": server.store_uri,
            "dvc_remote": server.dvc_remote,
            "artifacts": str(server.artifacts),
            "log": str(server.log),
            "pid": server.pid,
            "actions": list(server.actions),
            "member_setup": server.member_setup(),
        }

        def render() -> None:
            for action in server.actions:
                say(f"[green]✓[/green] {action}")
            say(f"Team server on {server.url} (pid {server.pid}, log {server.log}); Ctrl+C stops it")
            say("Members put this in their project:")
            for line in server.member_setup():
                typer.echo(f"  {line}")

        emit(data, as_json=json_output, render=render)

    raise typer.Exit(serve_team(options, on_ready=ready))
