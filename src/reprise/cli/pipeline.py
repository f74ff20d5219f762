"""``reprise pipeline``: version feature pipelines by content, fit them once per data version, apply stored fits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import compact_table, emit, out_console, print_result, print_table, say

if TYPE_CHECKING:
    from reprise.versioning.pipelines import PipelineDetails, PipelineFit, PipelineVersion

__all__ = ["app"]

app = typer.Typer(
    help="Feature-pipeline versions: semver'd recipes, fitted once per data version, applied without refitting.",
    no_args_is_help=True,
)

_JSON = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
_REF = Annotated[str, typer.Argument(help="The pipeline version, NAME@VERSION (e.g. prep@1.0.0).", show_default=False)]


@app.command()
def version(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline's name.", show_default=False)],
    spec: Annotated[
        str,
        typer.Argument(
            help="A .json/.yaml file with a list of steps, or module:attribute naming a scikit-learn Pipeline.",
            show_default=False,
        ),
    ],
    number: Annotated[
        str | None, typer.Option("--version", "-v", help="The semantic version (default: bump the latest).")
    ] = None,
    bump: Annotated[str, typer.Option("--bump", help="major, minor or patch: how a new number is made.")] = "patch",
    json_output: _JSON = False,
) -> None:
    """Record a pipeline as NAME@VERSION; the same content returns its version, other content under a number is refused.

    A step is {"name": ..., "type": "sklearn.preprocessing.StandardScaler", "params": {...}}.

    reprise pipeline version prep steps.yaml --version 1.0.0
    reprise pipeline version prep features:pipeline --bump minor
    """
    from reprise.versioning.pipeline_spec import load_pipeline_source
    from reprise.versioning.pipelines import version_pipeline

    settings = settings_for(ctx)
    made = version_pipeline(
        name,
        load_pipeline_source(spec, settings.project_dir),
        number,
        bump,  # type: ignore[arg-type]  # checked by version_pipeline
        settings=settings,
    )
    emit(made.model_dump(mode="json"), as_json=json_output, render=lambda: print_result(f"{made.ref}  {made.digest}"))


@app.command("list")
def list_(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only the versions of this pipeline.")] = None,
    json_output: _JSON = False,
) -> None:
    """List pipeline versions by name and semver precedence."""
    from reprise.versioning.pipelines import list_pipeline_versions

    found = list_pipeline_versions(name, settings=settings_for(ctx))
    emit([v.model_dump(mode="json") for v in found], as_json=json_output, render=lambda: _render_list(found))


@app.command()
def show(ctx: typer.Context, ref: _REF, json_output: _JSON = False) -> None:
    """Show a pipeline version: its digest, its canonical spec and its fits."""
    from reprise.versioning.pipelines import show_pipeline

    details = show_pipeline(ref, settings=settings_for(ctx))
    emit(details.model_dump(mode="json"), as_json=json_output, render=lambda: _render_details(details))


@app.command()
def fit(
    ctx: typer.Context,
    ref: _REF,
    data_version: Annotated[str, typer.Argument(help="The data version (one table) to fit on.", show_default=False)],
    json_output: _JSON = False,
) -> None:
    """Fit NAME@VERSION on a data version, once, and store the fitted object in MLflow (skops, sha256 recorded).

    reprise pipeline fit prep@1.0.0 train-v1
    """
    from reprise.versioning.pipeline_fits import fit_pipeline

    made = fit_pipeline(ref, data_version, settings=settings_for(ctx))
    emit(made.model_dump(mode="json"), as_json=json_output, render=lambda: _render_fit(made))


@app.command()
def apply(
    ctx: typer.Context,
    ref: _REF,
    source: Annotated[
        Path, typer.Argument(help="The table to transform (.csv, .tsv or .parquet).", show_default=False)
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the transformed table.")],
    fit_ref: Annotated[
        str | None, typer.Option("--fit", help="A fit id or the data version it was fitted on (default: newest).")
    ] = None,
    json_output: _JSON = False,
) -> None:
    """Transform a table with a stored fit of NAME@VERSION (its sha256 checked first); never refits.

    reprise pipeline apply prep@1.0.0 data/new.csv -o features.parquet
    """
    from reprise.versioning.pipeline_fits import apply_pipeline_to_file

    done = apply_pipeline_to_file(source, output, ref, fit_ref, settings=settings_for(ctx))
    emit(
        done.model_dump(mode="json"),
        as_json=json_output,
        render=lambda: say(
            f"wrote {done.output}: {done.rows} rows x {len(done.columns)} columns ({done.pipeline}, fit {done.fit_id})"
        ),
    )


def _render_list(found: list[PipelineVersion]) -> None:
    if not found:
        say("no pipeline versions yet (reprise pipeline version NAME steps.yaml)")
        return
    table = compact_table("pipeline", "version", "digest", "by", "created", keep=("pipeline", "version"))
    for item in found:
        created = item.created_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(item.name, item.version, item.digest[:19], item.actor, created)
    print_table(table)


def _render_details(details: PipelineDetails) -> None:
    import json

    console = out_console()
    item = details.version
    console.print(
        f"{item.ref}  {item.digest}  by {item.actor} at {item.created_at:%Y-%m-%d %H:%M} UTC", highlight=False
    )
    console.print(json.dumps(item.spec, indent=2, sort_keys=True), highlight=False)
    if not details.fits:
        say(f"not fitted yet (reprise pipeline fit {item.ref} DATA_VERSION)")
    for made in details.fits:
        _render_fit(made)


def _render_fit(made: PipelineFit) -> None:
    out_console().print(
        f"fit {made.fit_id} on {made.data_version}: run {made.run_id} {made.artifact_path} sha256 {made.sha256[:16]}",
        highlight=False,
    )
