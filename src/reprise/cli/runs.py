"""``reprise runs``: the captured runs, newest first, with their key metrics and last reproduction's verdict."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import compact_table, emit, out_console, print_table, say, short_id

if TYPE_CHECKING:
    from reprise.tracking.listing import RunSummary

__all__ = ["register"]

#: How many metrics a row shows (``--json`` has them all).
_KEY_METRICS = 3
#: Below this many columns run ids are shortened in the middle so a row still fits.
_FULL_ID_WIDTH = 110


def runs(
    ctx: typer.Context,
    experiment: Annotated[str | None, typer.Option("--experiment", "-e", help="Only this experiment's runs.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="The most runs to list.")] = 20,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the runs as JSON (every metric, full ids).")
    ] = False,
) -> None:
    """List captured runs, newest first: id, name, status, start (UTC), key metrics, last reproduction's verdict.

    Example:
        reprise runs -e my-project -n 5
    """
    from reprise.tracking.listing import list_runs

    found = list_runs(settings_for(ctx), experiment=experiment, limit=limit)
    emit([asdict(run) for run in found], as_json=json_output, render=lambda: _render(found))


def _render(found: list[RunSummary]) -> None:
    if not found:
        say("no runs yet (reprise run -- CMD, or reprise.start_run() in a script)")
        return
    full = out_console().width >= _FULL_ID_WIDTH
    table = compact_table("run", "name", "status", "started", "metrics", "verdict", keep=("run", "name"))
    for run in found:
        metrics = "\n".join(f"{key} {value:.4g}" for key, value in sorted(run.metrics.items())[:_KEY_METRICS])
        table.add_row(
            run.run_id if full else short_id(run.run_id),
            run.name,
            run.status,
            "-" if run.started_at is None else f"{run.started_at:%m-%d %H:%M}",
            metrics or "-",
            (run.verdict or "-").replace("_", " "),
        )
    print_table(table)
    if not full:
        say("ids are shortened to fit the terminal: reprise runs --json shows them whole")


def register(app: typer.Typer) -> None:
    """Add ``runs`` to the root app."""
    app.command()(runs)
