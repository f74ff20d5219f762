"""The root ``reprise`` command: global options, command groups, and the entry point."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from reprise.cli._context import CliState
from reprise.cli._errors import exit_codes_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from typer._click import Command, Context


__all__ = ["app", "main"]

_HELP_OPTIONS = ["-h", "--help"]

#: Every command, in the order ``--help`` lists them, and the module that defines it: a ``register(app)`` function
#: (top-level commands) or an ``app`` (a group). A module is imported, and its commands built, only when one of its
#: commands is asked for: ``reprise run`` does not pay for the other forty commands' imports and annotations.
_COMMANDS: dict[str, str] = {
    "init": "project",
    "run": "run",
    "runs": "runs",
    "quickstart": "quickstart",
    "ui": "quickstart",
    "reproduce": "reproduce",
    "validate": "reproduce",
    "audit": "reproduce",
    "serve": "serve",
    "automl": "automl",
    "data": "data",
    "env": "env",
    "keys": "keys",
    "lineage": "lineage",
    "pipeline": "pipeline",
    "registry": "registry",
    "release": "releases",
    "team": "team",
    "version": "versions",
}


_COMPLETION = frozenset({"install_completion", "show_completion"})


class _Commands(MutableMapping[str, "Command"]):
    """The root's commands, built on first use (``in`` and iteration build nothing)."""

    def __init__(self) -> None:
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in _COMMANDS:
                raise KeyError(name)
            self._built.update(_build(_COMMANDS[name], name))
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in _COMMANDS or name in self._built

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(_COMMANDS), **self._built})

    def __len__(self) -> int:
        return len({**dict.fromkeys(_COMMANDS), **self._built})


def _build(module_name: str, name: str) -> dict[str, Command]:
    """The commands of ``reprise.cli.<module_name>``, by name (a group's under ``name``)."""
    module = importlib.import_module(f"reprise.cli.{module_name}")
    if isinstance(getattr(module, "app", None), typer.Typer):
        group = typer.main.get_command(module.app)
        group.name = name
        # Built on its own, a group gets typer's completion options; under the root (no completion) it has none.
        group.params = [param for param in group.params if param.name not in _COMPLETION]
        return {name: group}
    holder = typer.Typer(add_completion=False)
    register: Callable[[typer.Typer], None] = module.register
    register(holder)
    built = typer.main.get_command(holder)
    commands = getattr(built, "commands", None)
    return dict(commands) if commands is not None else {str(built.name): built}


class _LazyGroup(TyperGroup):
    """The root group, whose commands are :class:`_Commands`."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.commands = _Commands()

    def list_commands(self, ctx: Context) -> list[str]:
        """The names in ``--help`` order, none built (typer's own lists them through ``items()``)."""
        return list(self.commands)


app = typer.Typer(
    name="reprise",
    cls=_LazyGroup,
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
