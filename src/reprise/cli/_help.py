"""Help as a reader expects it: docstring paragraphs re-flowed to the terminal, flags shown without a value type.

Docstrings are hard-wrapped at 120 columns; typer keeps those line breaks inside every paragraph but the first, so
a terminal of another width breaks sentences in the middle. Here each paragraph becomes one line (rich wraps it
again at the terminal's width), blank-line paragraph breaks and indented example blocks stay as written, and text
is escaped so a bracket (``[gates]``) is shown, not taken for a style. Boolean flags take no value, so they get no
``<bool>`` in the options table.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from typer._click import Command

__all__ = ["reflow", "tidy_help"]

#: An invisible character that is not whitespace (WORD JOINER).
_KEEP_INDENT = "\u2060"
#: How an example command line starts.
_EXAMPLE = "reprise "


def tidy_help(command: Command, help_option_names: Sequence[str]) -> None:
    """Re-flow the help of ``command`` and of every command under it, and drop ``<bool>`` from their flags.

    Args:
        command: The root of the click command tree typer built.
        help_option_names: The help options of the app (the help option is built once per command, with these).
    """
    from typer._click import Context
    from typer.core import TyperOption

    if command.help:
        command.help = reflow(command.help)
    if command.epilog:
        command.epilog = reflow(command.epilog)
    help_option = command.get_help_option(Context(command, help_option_names=list(help_option_names)))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if isinstance(param, TyperOption):
            if param.help:
                param.help = reflow(param.help)
            if param.is_flag and param.metavar is None:
                param.metavar = ""  # typer shows metavar instead of the type: nothing, for a flag
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub, help_option_names)


def reflow(text: str) -> str:
    r"""``text`` with each paragraph on one line; blank lines, indented lines and ``reprise ...`` examples kept.

    Example:
        >>> reflow("Serve a model\nover HTTP.\n\n    reprise serve m@champion\n")
        'Serve a model over HTTP.\n\n\u2060    reprise serve m@champion'
    """
    from rich.markup import escape

    lines: list[str] = []
    prose: list[str] = []
    for raw in inspect.cleandoc(text).splitlines():
        # An example command written flush with the prose is shown as an example block all the same.
        line = f"    {raw}" if raw.startswith(_EXAMPLE) else raw
        if line.strip() and not line[0].isspace():
            prose.append(line.strip())
            continue
        if prose:
            lines.append(" ".join(prose))
            prose = []
        # typer dedents the help after its first paragraph: a line that starts with a non-space keeps its indent.
        lines.append(_KEEP_INDENT + line.rstrip() if line.strip() else "")
    if prose:
        lines.append(" ".join(prose))
    return escape("\n".join(lines))
