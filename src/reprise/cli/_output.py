"""Rendering for every command: data to stdout (text or ``--json``), messages to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "compact_table",
    "emit",
    "err_console",
    "out_console",
    "print_result",
    "print_table",
    "printable",
    "say",
    "short_id",
]


def out_console(*, markup: bool = True) -> Any:
    """A rich console on stdout, for tables and data; ``markup=False`` prints every string as written."""
    from rich.console import Console

    return Console(soft_wrap=True, markup=markup)


def err_console() -> Any:
    """A rich console on stderr, for messages and progress."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def say(message: str) -> None:
    """Print a human message to stderr (never mixed with data on stdout).

    Rich style tags the caller wrote (``[green]✓[/green]``) style the text; any other bracketed text, such as
    ``[gates]`` quoted from a config file, prints as written.
    """
    err_console().print(_escape_non_styles(printable(message)), highlight=False)


def print_result(line: str) -> None:
    """Print one line of a command's result (names, ids, digests) to stdout, as written (controls escaped)."""
    sys.stdout.write(printable(line) + "\n")


def printable(text: str) -> str:
    r"""``text`` with control characters (a NUL, an escape sequence read from a file) shown as escapes.

    Line breaks stay; an escape character becomes the four characters ``\x1b``.
    """
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char == "\n" else char.encode("unicode_escape").decode("ascii") for char in text
    )


def emit(data: Any, *, as_json: bool, render: Callable[[], None] | None = None) -> None:
    """Write ``data`` to stdout: as JSON with ``--json``, else through ``render`` (or as plain JSON if none)."""
    if as_json or render is None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    else:
        render()


def compact_table(*headers: str, title: str | None = None, keep: Sequence[str] = ()) -> Any:
    """A table that reads at 80 columns: a rule under the headers, no borders, one space between columns.

    Args:
        headers: The column headings.
        title: A line above the table.
        keep: Headings of columns never wrapped nor shortened (names a user copies: models, versions, runs).

    Print it with :func:`print_table`, which shows text cells as written (style a cell with ``rich.text.Text``).
    """
    from rich import box
    from rich.table import Table

    table = Table(
        title=title, box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False, show_edge=False, title_justify="left"
    )
    for header in headers:
        if header in keep:
            table.add_column(header, no_wrap=True)
        else:
            table.add_column(header, overflow="fold")
    return table


def print_table(table: Any) -> None:
    """Print ``table`` on stdout with its text cells as written (a ``[gates]`` in a cell stays)."""
    out_console(markup=False).print(table)


def short_id(value: str, *, width: int = 14) -> str:
    """``value`` shortened in the middle to ``width`` characters (``e715a3…9b1c``); a ``scheme:`` prefix is kept."""
    scheme, colon, rest = value.rpartition(":") if ":" in value else ("", "", value)
    room = max(width - len(scheme) - len(colon), 10)
    if len(rest) <= room:
        return value
    return f"{scheme}{colon}{rest[: room - 5]}…{rest[-4:]}"


def _escape_non_styles(message: str) -> str:
    """``message`` with every ``[...]`` that is not a Rich style tag escaped, so it prints as written."""
    from rich.errors import StyleSyntaxError
    from rich.markup import RE_TAGS
    from rich.style import Style

    def escape(match: Any) -> str:
        whole, backslashes, body = match.groups()
        if len(backslashes) % 2:  # escaped already (rich.markup.escape)
            return str(whole)
        name = body.removeprefix("/")
        if name:
            try:
                Style.parse(name)
            except StyleSyntaxError:
                return f"{backslashes}{backslashes}\\{whole[len(backslashes) :]}"
        return str(whole)

    return str(RE_TAGS.sub(escape, message))
