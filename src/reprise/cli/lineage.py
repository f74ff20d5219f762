"""``reprise lineage``: what went into a thing, what came of it, and what a change to it would touch."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import emit, out_console

if TYPE_CHECKING:
    from reprise.versioning.lineage import Impact, LineageView

__all__ = ["app"]

app = typer.Typer(
    help="Lineage both ways: data -> runs -> models -> versions, and back. REFs: data:NAME, pipeline:NAME@VER, "
    "run:ID, model:NAME/VER or models:/NAME@ALIAS, version:NAME, release:NAME@VER, commit:SHA.",
    no_args_is_help=True,
)

_REF = Annotated[str, typer.Argument(help="What to start from (a REF, e.g. data:raw@v1).", show_default=False)]


@app.command()
def show(
    ctx: typer.Context,
    ref: _REF,
    up: Annotated[bool, typer.Option("--up", help="Only what went into REF.")] = False,
    down: Annotated[bool, typer.Option("--down", help="Only what came of REF.")] = False,
    depth: Annotated[int | None, typer.Option("--depth", min=1, help="At most this many steps away.")] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="text, json, mermaid or html (a standalone page on stdout).")
    ] = "text",
    json_output: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """The lineage around REF, with the last reproduction of each run, model version and version.

    reprise lineage show model:breast_cancer_classifier/1 --up
    reprise lineage show data:raw@v1 --down --format mermaid
    """
    from reprise.errors import ConfigError
    from reprise.versioning.lineage import show_lineage

    if json_output:
        output_format = "json"
    if output_format not in ("text", "json", "mermaid", "html"):
        raise ConfigError(f"--format {output_format!r} is not a format", hint="use text, json, mermaid or html")
    direction: Literal["up", "down", "both"] = "up" if up and not down else "down" if down and not up else "both"
    view = show_lineage(ref, direction=direction, depth=depth, settings=settings_for(ctx))
    if output_format == "mermaid":
        sys.stdout.write(view.to_mermaid())
    elif output_format == "html":
        sys.stdout.write(view.to_html())
    else:
        emit(view.model_dump(mode="json"), as_json=output_format == "json", render=lambda: _render(view))


@app.command()
def impact(
    ctx: typer.Context,
    ref: _REF,
    env: Annotated[
        str | None, typer.Option("--env", help="Only the releases deployed in this environment (e.g. production).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Which model versions, unified versions, releases and runs used REF, and which releases run where now.

    reprise lineage impact data:raw@v1 --env production
    """
    from reprise.versioning.lineage import impact as find_impact

    found = find_impact(ref, environment=env, settings=settings_for(ctx))
    emit(found.model_dump(mode="json"), as_json=json_output, render=lambda: _render_impact(found))


def _render(view: LineageView) -> None:
    console = out_console()
    for node in view.nodes:
        arrow = {"up": "<-", "down": "->", "start": "*"}[node.direction]
        verdict = f"  [last reproduction: {node.last_reproduction}]" if node.last_reproduction else ""
        console.print(f"{'  ' * node.depth}{arrow} {node.ref}{verdict}", highlight=False, markup=False)


def _render_impact(found: Impact) -> None:
    console = out_console()
    console.print(f"used by {found.start}:", highlight=False, markup=False)
    for label, refs in (
        ("model versions", found.models),
        ("unified versions", found.versions),
        ("releases", found.releases),
        ("runs", found.runs),
    ):
        console.print(f"  {label} ({len(refs)}): {', '.join(refs) or 'none'}", highlight=False, markup=False)
    where = f"in {found.environment}" if found.environment else "in an environment"
    console.print(f"  deployed {where} ({len(found.deployed)}):", highlight=False, markup=False)
    for active in found.deployed:
        console.print(
            f"    {active.environment}: {active.release} (promoted by {active.promoted_by} at "
            f"{active.promoted_at:%Y-%m-%d %H:%M} UTC)",
            highlight=False,
            markup=False,
        )
