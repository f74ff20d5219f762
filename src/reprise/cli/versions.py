"""``reprise version``: unified versions, one immutable name for commit, data, pipelines, runs, model, environment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import compact_table, emit, out_console, print_table, say, short_id

if TYPE_CHECKING:
    from reprise.versioning.unified import UnifiedVersion

__all__ = ["app"]

app = typer.Typer(
    help="Unified versions: one name for the commit, data, pipelines, runs, model and environment of a result.",
    no_args_is_help=True,
)

_JSON = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The version's name (letters, digits, ._+@-).", show_default=False)],
    run: Annotated[list[str], typer.Option("--run", help="A run of the version (repeatable).", show_default=False)],
    data: Annotated[
        list[str] | None, typer.Option("--data", help="A data version, beside those the runs read (repeatable).")
    ] = None,
    pipeline: Annotated[
        list[str] | None, typer.Option("--pipeline", help="A pipeline version NAME@VERSION (repeatable).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="The model version: NAME/VERSION or NAME@ALIAS.")] = None,
    allow_dirty: Annotated[
        bool,
        typer.Option("--allow-dirty", help="Accept runs made with uncommitted changes (patch digests count)."),
    ] = False,
    json_output: _JSON = False,
) -> None:
    """Name the exact commit, data, pipelines, runs, model version and environment of a result. Starts no run.

    reprise version create churn-v3 --run 4c7db37c9e1b4f0a8a3e1f6e2b7d9c01 --model churn@staging
    """
    from reprise.versioning.unified import create_version

    version = create_version(
        name,
        runs=run,
        data=data or (),
        pipelines=pipeline or (),
        model=model,
        allow_dirty=allow_dirty,
        settings=settings_for(ctx),
    )
    emit(version.model_dump(mode="json"), as_json=json_output, render=lambda: _render(version))
    if version.same_as:
        say(f"same components as {', '.join(version.same_as)} (digest {version.digest})")


@app.command("list")
def list_(ctx: typer.Context, json_output: _JSON = False) -> None:
    """Every unified version, oldest first."""
    from reprise.versioning.unified import list_versions

    versions = list_versions(settings=settings_for(ctx))

    def render() -> None:
        table = compact_table("name", "digest", "commit", "runs", "data", "model", "created", keep=("name", "model"))
        for version in versions:
            model = "" if version.model is None else f"{version.model.name}/{version.model.version}"
            table.add_row(
                version.name,
                short_id(version.digest),
                version.git_commit[:12],
                str(len(version.runs)),
                ", ".join(data.name for data in version.data),
                model,
                f"{version.created_at:%Y-%m-%d %H:%M}",
            )
        print_table(table)

    emit([version.model_dump(mode="json") for version in versions], as_json=json_output, render=render)


@app.command()
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The version (NAME or version:NAME).", show_default=False)],
    json_output: _JSON = False,
) -> None:
    """One unified version and every component with its digest."""
    from reprise.versioning.unified import get_version

    version = get_version(name, settings=settings_for(ctx))
    emit(version.model_dump(mode="json"), as_json=json_output, render=lambda: _render(version))


def _render(version: UnifiedVersion) -> None:
    console = out_console()
    console.print(f"version:{version.name}  {version.digest}", highlight=False)
    console.print(f"  commit       {version.git_commit}", highlight=False)
    for patch in version.patch_digests:
        console.print(f"  patch        {patch}", highlight=False)
    console.print(f"  environment  {version.environment_digest}", highlight=False)
    for run in version.runs:
        via = "" if run.captured_run_id == run.run_id else f" (recorded by run {run.captured_run_id})"
        console.print(f"  run          {run.run_id}{via}  inputs {run.inputs_digest}", highlight=False)
    for data in version.data:
        console.print(f"  data         {data.name}  md5 {data.dvc_md5}  {data.manifest_digest}", highlight=False)
    for pipeline in version.pipelines:
        console.print(f"  pipeline     {pipeline.ref}  {pipeline.digest}", highlight=False)
    if version.model is not None:
        console.print(
            f"  model        {version.model.name}/{version.model.version}  from run {version.model.run_id}",
            highlight=False,
        )
    console.print(f"  created      {version.created_at:%Y-%m-%d %H:%M:%S} UTC by {version.actor}", highlight=False)
