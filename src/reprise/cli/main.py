"""The root ``reprise`` command: global options, command groups, and the entry point."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reprise.cli import automl as automl_cli
from reprise.cli import data as data_cli
from reprise.cli import env as env_cli
from reprise.cli import keys as keys_cli
from reprise.cli import lineage as lineage_cli
from reprise.cli import pipeline as pipeline_cli
from reprise.cli import project as project_cli
from reprise.cli import quickstart as quickstart_cli
from reprise.cli import registry as registry_cli
from reprise.cli import releases as releases_cli
from reprise.cli import reproduce as reproduce_cli
from reprise.cli import run as run_cli_module
from reprise.cli import runs as runs_cli
from reprise.cli import serve as serve_cli
from reprise.cli import team as team_cli
from reprise.cli import versions as versions_cli
from reprise.cli._context import CliState
from reprise.cli._errors import exit_codes_text

if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = ["app", "main"]

_HELP_OPTIONS = ["-h", "--help"]

app = typer.Typer(
    name="reprise",
    help="Make every ML result reproducible: capture runs, version data, reproduce and verify.",
    epilog="-C, --tracking-uri, --debug and --json may come before or after the command.\n\n" + exit_codes_text(),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": _HELP_OPTIONS},
)


def _show_version(value: bool) -> None:
    if value:
        from reprise import __version__

        typer.echo(f"reprise {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Option("-C", help="Run as if started in this folder (like git -C).", exists=True, file_okay=False),
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (overrides reprise.toml).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", callback=_show_version, is_eager=True)
    ] = False,
) -> None:
    """Make every ML result reproducible: capture runs, version data, reproduce and verify."""
    if directory is not None:
        os.chdir(directory)
    ctx.obj = CliState(tracking_uri=tracking_uri)


project_cli.register(app)
run_cli_module.register(app)
runs_cli.register(app)
quickstart_cli.register(app)
reproduce_cli.register(app)
serve_cli.register(app)
app.add_typer(automl_cli.app, name="automl")
app.add_typer(data_cli.app, name="data")
app.add_typer(env_cli.app, name="env")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(lineage_cli.app, name="lineage")
app.add_typer(pipeline_cli.app, name="pipeline")
app.add_typer(registry_cli.app, name="registry")
app.add_typer(releases_cli.app, name="release")
app.add_typer(team_cli.app, name="team")
app.add_typer(versions_cli.app, name="version")


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point: run the CLI and exit with its code."""
    from reprise.cli._argv import place_global_options
    from reprise.cli._errors import run_cli
    from reprise.cli._help import tidy_help

    command = typer.main.get_command(app)
    invocation = place_global_options(command, sys.argv[1:] if argv is None else argv, _HELP_OPTIONS)
    if invocation.shows_help:
        tidy_help(command, _HELP_OPTIONS)

    def invoke(args: list[str]) -> int | None:
        return command.main(args=args, prog_name="reprise", standalone_mode=False)  # type: ignore[no-any-return]

    code = run_cli(invoke, invocation)
    raise SystemExit(code)
