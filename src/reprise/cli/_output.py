"""Rendering for every command: data to stdout (text or ``--json``), messages to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["emit", "err_console", "out_console", "say"]


def out_console() -> Any:
    """A rich console on stdout, for tables and data."""
    from rich.console import Console

    return Console(soft_wrap=True)


def err_console() -> Any:
    """A rich console on stderr, for messages and progress."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def say(message: str) -> None:
    """Print a human message to stderr (never mixed with data on stdout)."""
    err_console().print(message, highlight=False)


def emit(data: Any, *, as_json: bool, render: Callable[[], None] | None = None) -> None:
    """Write ``data`` to stdout: as JSON with ``--json``, else through ``render`` (or as plain JSON if none)."""
    if as_json or render is None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    else:
        render()
