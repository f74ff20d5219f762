"""Global options anywhere on the command line: ``-C``, ``--tracking-uri``, ``--debug`` and ``--json``.

Click reads an option only at the level that declares it, so ``reprise data list -C proj`` and ``reprise --json
data list`` would be refused. Before click parses anything, :func:`place_global_options` moves the root's options
(``-C DIR``, ``--tracking-uri URI``, ``--debug``) in front of the subcommand and ``--json`` right after the command
that takes it. Nothing after ``--`` is touched, nor anything from where ``reprise run`` starts its command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from typer._click import Command

__all__ = ["Invocation", "place_global_options"]

_ROOT_VALUED = ("-C", "--tracking-uri")
_ROOT_FLAGS = ("--debug",)
_JSON = "--json"


@dataclass(frozen=True)
class Invocation:
    """A command line with its global options where click expects them.

    Attributes:
        args: The arguments to hand to click.
        json: ``--json`` was given (errors are then also printed as JSON).
        debug: ``--debug`` was given (errors show their traceback).
        shows_help: Help will be shown: a help option was given, or no command to run was named.
    """

    args: list[str]
    json: bool
    debug: bool
    shows_help: bool


def place_global_options(root: Command, argv: Sequence[str], help_options: Sequence[str]) -> Invocation:
    """Move the global options of ``argv`` to where ``root`` (the ``reprise`` command tree) reads them.

    Args:
        root: The root command.
        argv: The arguments as typed (without the program name).
        help_options: The app's help options (``-h``, ``--help``).

    Returns:
        The rearranged arguments and whether ``--json`` and ``--debug`` were given.

    Example:
        >>> place_global_options(root, ["data", "list", "-C", "proj", "--debug"], ["--help"]).args   # doctest: +SKIP
        ['-C', 'proj', '--debug', 'data', 'list']
    """
    args = list(argv)
    end = args.index("--") if "--" in args else len(args)
    front: list[str] = []
    rest: list[str] = []
    json = debug = False
    command, leaf_at = root, None
    i = 0
    while i < end:
        arg = args[i]
        name = arg.partition("=")[0]
        if arg == _JSON:
            json, i = True, i + 1
        elif arg in _ROOT_FLAGS:
            debug, i = True, i + 1
            front.append(arg)
        elif name in _ROOT_VALUED:
            taken = 1 if "=" in arg else 2
            front.extend(args[i : min(i + taken, end)])
            i += taken
        elif arg.startswith("-") and arg != "-":
            taken = 2 if _takes_value(command, name) and "=" not in arg else 1
            rest.extend(args[i : min(i + taken, end)])
            i += taken
        elif arg in getattr(command, "commands", {}):
            command = command.commands[arg]  # type: ignore[attr-defined]
            rest.append(arg)
            i += 1
            if not hasattr(command, "commands"):
                leaf_at = len(rest)
        elif leaf_at is not None and not command.allow_interspersed_args:
            rest.extend(args[i:end])  # `reprise run CMD ARGS...`: the rest is the child's
            i = end
        else:
            rest.append(arg)
            i += 1
    if json and leaf_at is not None:  # without a command (`reprise --json --version`) there is nothing to print
        rest.insert(leaf_at, _JSON)
    shows_help = leaf_at is None or any(arg in help_options for arg in rest)
    return Invocation(args=[*front, *rest, *args[end:]], json=json, debug=debug, shows_help=shows_help)


def _takes_value(command: Command, name: str) -> bool:
    for param in command.params:
        if name in (*param.opts, *param.secondary_opts):
            return not getattr(param, "is_flag", False) and not getattr(param, "count", False)
    return False
