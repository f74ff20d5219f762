"""``reprise team ...``: run the team's MLflow server, manage members, audit its permissions, verify in batch.

``team verify`` is ``reprise reproduce --batch`` under its team name: both go through :mod:`reprise.cli._batch`.
"""

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


@app.command("add-member")
def add_member_command(
    username: Annotated[str, typer.Argument(help="The member's user name.")],
    url: Annotated[str, typer.Option("--url", envvar="REPRISE_TRACKING_URI", help="The team's server.")],
    role: Annotated[str, typer.Option("--role", help="reader, editor or maintainer.")] = "reader",
    password: Annotated[
        str,
        typer.Option(
            "--password",
            envvar="REPRISE_TEAM_MEMBER_PASSWORD",
            prompt=True,
            hide_input=True,
            help="The new member's password (asked when not given; used only when the user is new).",
        ),
    ] = "",
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create a member (if new) and give them one role, as the admin in MLFLOW_TRACKING_USERNAME/PASSWORD."""
    from reprise.team._http import credentials_from_env
    from reprise.team.roles import add_member

    add_member(url, credentials_from_env(), username, password, role)
    emit(
        {"url": url, "username": username, "role": role},
        as_json=json_output,
        render=lambda: say(f"[green]✓[/green] {username} is a {role} on {url}"),
    )


@app.command("audit")
def audit(
    url: Annotated[str, typer.Argument(help="The team's server (http://HOST:PORT).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
) -> None:
    """Walk every route family as anonymous, a reader and an editor; exit 1 if any answers when it should refuse.

    Runs as the admin in MLFLOW_TRACKING_USERNAME/PASSWORD, who creates (and afterwards deletes) scratch objects and
    two throwaway members.
    """
    from dataclasses import asdict

    from reprise.team._http import credentials_from_env
    from reprise.team.audit import audit_server

    report = audit_server(url, credentials_from_env())
    data = {
        "url": report.url,
        "requests": report.requests,
        "ok": report.ok,
        "leaks": [asdict(item) for item in report.leaks],
        "refusals": [asdict(item) for item in report.refusals],
    }

    def render() -> None:
        for item in report.leaks:
            typer.echo(f"LEAK     {item.identity:<9} {item.method:<6} {item.path} -> {item.status} (needs {item.need})")
        for item in report.refusals:
            typer.echo(f"REFUSED  {item.identity:<9} {item.method:<6} {item.path} -> {item.status} (needs {item.need})")
        verdict = "no route answered when it should refuse" if report.ok else f"{len(report.leaks)} leak(s)"
        say(f"{report.requests} requests to {report.url}: {verdict}")

    emit(data, as_json=json_output, render=render)
    if not report.ok:
        raise typer.Exit(1)


@app.command("verify")
def verify(
    ctx: typer.Context,
    queries: Annotated[
        list[str],
        typer.Argument(
            help="What to re-verify: alias:[MODEL@]ALIAS, env:ENV, downstream:REF, or targets as `reprise reproduce` "
            "takes them (run ids, models:/NAME@ALIAS...).",
        ),
    ],
    workers: Annotated[int, typer.Option("--workers", min=1, help="Local Dask worker processes.")] = 2,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="A running Dask scheduler (tcp://HOST:8786) instead of local.")
    ] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Re-run in this checkout instead of a worktree and a fresh venv each.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the verdicts as JSON.")] = False,
) -> None:
    """Re-verify many targets at once on Dask workers: one verdict each and a summary; exit 1 unless all reproduce.

    The same as `reprise reproduce --batch QUERY...`: exit 2 for a malformed query, 3 for one that selects nothing.
    """
    from reprise.cli._batch import verify_many

    verify_many(
        ctx, queries, workers=workers, cluster=cluster, in_place=in_place, tolerance=None, json_output=json_output
    )
