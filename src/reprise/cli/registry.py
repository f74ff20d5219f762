"""``reprise registry``: register, gate, promote, compare and export models, and read who did what when."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import compact_table, emit, print_table, say

if TYPE_CHECKING:
    from reprise.registry.catalog import VersionInfo
    from reprise.registry.compare import VersionComparison
    from reprise.registry.history import AliasHolding, RegistryEvent

__all__ = ["app"]

app = typer.Typer(
    help="The model registry: register, gate, promote, compare and export models, with a full history.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
ModelArg = Annotated[str, typer.Argument(help="The registered model's name.", show_default=False)]

#: Metric columns ``versions`` shows when none are asked for.
_DEFAULT_COLUMNS = 4


@app.command("list")
def list_models(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List the registered models with their version count and aliases."""
    from reprise.registry.catalog import list_models as list_registered

    models = list_registered(settings=settings_for(ctx))

    def render() -> None:
        if not models:
            say("no registered models yet (reprise registry register RUN_ID NAME)")
            return
        table = compact_table("Model", "Versions", "Latest", "Aliases", keep=("Model",))
        for model in models:
            aliases = ", ".join(f"{alias} → v{version}" for alias, version in model.aliases.items())
            table.add_row(model.name, str(model.versions), _v(model.latest_version), aliases or "-")
        print_table(table)

    emit([model.model_dump(mode="json") for model in models], as_json=json_output, render=render)


@app.command()
def versions(
    ctx: typer.Context,
    model: ModelArg,
    metrics: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="A metric column to show (repeatable).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Show every version of MODEL: stage, key metrics, aliases and gate status."""
    from reprise.registry.catalog import list_versions

    found = list_versions(model, settings=settings_for(ctx))

    def render() -> None:
        columns = metrics or _common_metrics(found)
        table = compact_table(
            "Version",
            "Stage",
            *columns,
            "Aliases",
            "Gates",
            "Created",
            title=f"{model} (times in UTC)",
            keep=("Version",),
        )
        for info in found:
            values = [_number(info.metrics.get(column)) for column in columns]
            created = info.created_at.strftime("%y-%m-%d %H:%M")
            aliases = ", ".join(info.aliases) or "-"
            table.add_row(str(info.version), info.stage, *values, aliases, info.validation_status, created)
        print_table(table)
        if not found:
            say(f"{model} has no versions yet")

    emit([info.model_dump(mode="json") for info in found], as_json=json_output, render=render)


@app.command()
def register(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The MLflow run that logged the model.", show_default=False)],
    model: ModelArg,
    artifact_path: Annotated[str, typer.Option("--artifact-path", help="The model's name in the run.")] = "model",
    model_type: Annotated[
        str | None, typer.Option("--model-type", help="Tag value for model_type (default: from the run).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Register the model of RUN_ID as a new version of MODEL, check its gates, and stage it if they pass.

    The version is registered either way; exit 1 when a gate failed (it is not staged).
    """
    from reprise.registry.lifecycle import register_model

    registration = register_model(
        run_id, model, artifact_path=artifact_path, model_type=model_type, settings=settings_for(ctx)
    )
    data = {**registration.model_dump(mode="json"), "summary": registration.describe()}
    emit(data, as_json=json_output, render=lambda: say(registration.describe()))
    if registration.gates.status == "failed":
        raise typer.Exit(1)


@app.command()
def promote(
    ctx: typer.Context,
    model: ModelArg,
    version: Annotated[str, typer.Argument(help="A version number (3, v3) or an alias (@staging).")],
    stage: Annotated[str, typer.Argument(help="Staging, Production, Archived, or any alias (champion...).")],
    force: Annotated[bool, typer.Option("--force", help="Promote even though the version failed its gates.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Promote VERSION of MODEL to STAGE; says which version lost the alias (nothing is archived silently)."""
    from reprise.registry.lifecycle import promote_model

    promotion = promote_model(model, version, stage, force=force, settings=settings_for(ctx))
    emit(promotion.model_dump(mode="json"), as_json=json_output, render=lambda: say(promotion.describe()))


@app.command()
def alias(
    ctx: typer.Context,
    model: ModelArg,
    name: Annotated[str, typer.Argument(help="The alias (champion, challenger, baseline...).", show_default=False)],
    version: Annotated[str, typer.Argument(help="A version number (3, v3) or another alias.", show_default=False)],
    json_output: JsonFlag = False,
) -> None:
    """Point alias NAME of MODEL at VERSION (no gate check; `promote` checks gates)."""
    from reprise.registry.lifecycle import set_model_alias

    move = set_model_alias(model, name, version, settings=settings_for(ctx))
    emit(move.model_dump(mode="json"), as_json=json_output, render=lambda: say(f"{model} {move.describe()}"))


@app.command()
def compare(
    ctx: typer.Context,
    model: ModelArg,
    a: Annotated[str, typer.Argument(help="A version number or alias.", show_default=False)],
    b: Annotated[str, typer.Argument(help="Another version number or alias.", show_default=False)],
    json_output: JsonFlag = False,
) -> None:
    """Compare two versions of MODEL: metrics with deltas, params that differ, signatures, commit and data."""
    from reprise.registry.compare import compare_versions

    comparison = compare_versions(model, a, b, settings=settings_for(ctx))
    emit(comparison.model_dump(mode="json"), as_json=json_output, render=lambda: _render_comparison(comparison))


@app.command()
def best(
    ctx: typer.Context,
    model: ModelArg,
    metric: Annotated[str, typer.Option("--metric", help="The metric to rank by.", show_default=False)],
    maximize: Annotated[
        bool | None,
        typer.Option("--max/--min", help="Higher (--max) or lower (--min) is better. Default: the gate's way."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Find the version of MODEL with the best METRIC, and rank every version."""
    from reprise.registry.compare import best_version

    result = best_version(model, metric, maximize=maximize, settings=settings_for(ctx))

    def render() -> None:
        way = "higher" if result.maximize else "lower"
        title = f"{model} by {metric} ({way} is better)"
        table = compact_table("Rank", "Version", metric, "Stage", "Aliases", title=title, keep=("Version",))
        for rank, entry in enumerate(result.ranking, start=1):
            table.add_row(str(rank), str(entry.version), _number(entry.value), entry.stage, ", ".join(entry.aliases))
        print_table(table)
        say(
            f"best: {model} v{result.version} ({metric} = {result.value:.6g}, {way} is better: {result.direction_from})"
        )

    emit(result.model_dump(mode="json"), as_json=json_output, render=render)


@app.command()
def history(
    ctx: typer.Context,
    model: ModelArg,
    alias_name: Annotated[str | None, typer.Option("--alias", help="Only the moves of this alias.")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Who held the alias(es) at this ISO time (no zone: UTC).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Show MODEL's registrations, gate results, alias moves, archives and exports: who, when, from and to."""
    from reprise.registry import history as registry_history

    settings = settings_for(ctx)
    if at is not None:
        moment = registry_history.parse_time(at)
        holdings: tuple[AliasHolding, ...]
        if alias_name is not None:
            holdings = (registry_history.alias_holder(model, alias_name, moment, settings=settings),)
        else:
            holdings = registry_history.aliases_at(model, moment, settings=settings)

        def render_holdings() -> None:
            when = moment.isoformat(timespec="minutes")
            if not holdings:
                say(f"no alias of {model} had a holder at {when}")
            for holding in holdings:
                if holding.version is None:
                    say(f"{model}@{holding.alias} at {when}: no version held it")
                else:
                    since = holding.since.isoformat(timespec="seconds") if holding.since else "?"
                    say(f"{model}@{holding.alias} at {when}: v{holding.version} (since {since}, by {holding.by})")

        emit([holding.model_dump(mode="json") for holding in holdings], as_json=json_output, render=render_holdings)
        return
    events = registry_history.read_history(model, alias=alias_name, settings=settings)
    emit([event.model_dump(mode="json") for event in events], as_json=json_output, render=lambda: _render(events))


@app.command()
def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="MODEL@ALIAS, MODEL/VERSION or MODEL (latest).", show_default=False)],
    to: Annotated[Path, typer.Option("--to", help="The deployment folder.", show_default=False)],
    json_output: JsonFlag = False,
) -> None:
    """Write REF to DIR/vNNN and DIR/latest in MLflow's model format, with metadata.json."""
    from reprise.registry.export import export_model

    result = export_model(ref, to, settings=settings_for(ctx))

    def render() -> None:
        if result.changed:
            say(f"exported {result.model} v{result.version} → {result.path} and {result.latest}")
        else:
            say(f"{result.model} v{result.version} is already exported to {result.path}: nothing to do")

    emit(result.model_dump(mode="json"), as_json=json_output, render=render)


def _render(events: tuple[RegistryEvent, ...]) -> None:
    if not events:
        say("no history recorded yet")
        return
    table = compact_table("When (UTC)", "Who", "Event", "What", keep=("When (UTC)",))
    for event in events:
        table.add_row(event.at.strftime("%y-%m-%d %H:%M:%S"), event.actor, event.kind, event.describe())
    print_table(table)


def _render_comparison(comparison: VersionComparison) -> None:
    a, b = comparison.a, comparison.b
    heads = (f"v{a.version}", f"v{b.version}")
    table = compact_table("", *heads, "Δ", title=f"{comparison.model}: v{a.version} vs v{b.version}", keep=("",))
    for row in comparison.metrics:
        table.add_row(row.name, _number(row.a), _number(row.b), _number(row.delta, signed=True))
    for label, left, right in (
        ("stage", a.stage, b.stage),
        ("aliases", ", ".join(a.aliases) or "-", ", ".join(b.aliases) or "-"),
        ("gates", a.validation_status, b.validation_status),
        ("model type", a.model_type, b.model_type),
        ("git commit", a.git_commit[:12], b.git_commit[:12]),
        ("data digest", a.data_digest[:19], b.data_digest[:19]),
    ):
        table.add_row(label, left, right, "" if left == right else "≠")
    for param in comparison.params:
        table.add_row(f"param {param.name}", param.a or "-", param.b or "-", "≠")
    print_table(table)
    signature = comparison.signature
    if signature.same:
        say("signatures: identical")
    else:
        for line in (
            *(f"  only v{a.version}: {column}" for column in signature.only_in_a),
            *(f"  only v{b.version}: {column}" for column in signature.only_in_b),
            *(f"  changed: {column}" for column in signature.changed),
        ):
            say(line)
        if signature.outputs_a != signature.outputs_b:
            say(f"  outputs: {signature.outputs_a} → {signature.outputs_b}")


def _common_metrics(found: tuple[VersionInfo, ...]) -> list[str]:
    """The metrics most versions have, up to a few, in name order."""
    counts: dict[str, int] = {}
    for info in found:
        for name in info.metrics:
            counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts, key=lambda name: (-counts[name], name))[:_DEFAULT_COLUMNS]
    return sorted(ranked)


def _number(value: Any, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _v(version: int | None) -> str:
    return "-" if version is None else f"v{version}"
