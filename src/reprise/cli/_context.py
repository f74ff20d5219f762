"""Global CLI options and the one way commands turn them into Settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    from reprise.config import Settings

__all__ = ["CliState", "settings_for"]


@dataclass(frozen=True)
class CliState:
    """Global options, shared by every command through ``ctx.obj``."""

    tracking_uri: str | None


def settings_for(ctx: typer.Context, **overrides: Any) -> Settings:
    """Load the project's settings with the global options and ``overrides`` (CLI flags) applied.

    Raises:
        NotAProjectError: The command was not run inside a project.
    """
    from reprise.config import load_settings

    state: CliState = ctx.find_root().obj
    return load_settings(overrides={"tracking_uri": state.tracking_uri, **overrides})
