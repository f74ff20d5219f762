"""``reprise env``: capture an environment to files, and compare two captures."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import compact_table, emit, print_table, say

if TYPE_CHECKING:
    from reprise.capture.environment import Environment, EnvironmentDiff
    from reprise.config import Settings

__all__ = ["app"]

app = typer.Typer(
    help="Capture and compare environments (packages, Python, OS, CPU, BLAS, env vars).", no_args_is_help=True
)

_DEFAULT_DIR = Path(".reprise") / "env"


@app.command()
def capture(
    ctx: typer.Context,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Folder for requirements.txt and system_info.json.")
    ] = _DEFAULT_DIR,
    mlflow_run: Annotated[
        str | None, typer.Option("--mlflow-run", help="Also log the files to this MLflow run (under reprise/).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write requirements.txt (exact pins), system_info.json and, under conda, conda_packages.txt."""
    from reprise.capture.environment import capture_environment, write_capture

    settings = settings_for(ctx)
    environment = capture_environment(env_globs=settings.capture_env_vars)
    files = write_capture(environment, output_dir)
    if mlflow_run is not None:
        from reprise.capture.layout import ARTIFACT_DIR
        from reprise.tracking._client import log_folder

        log_folder(settings, mlflow_run, output_dir, ARTIFACT_DIR)
    data = {
        "files": [str(path) for path in files],
        "packages": len(environment.packages),
        "env_digest": environment.digest(),
        "mlflow_run": mlflow_run,
    }

    def render() -> None:
        say(f"captured {len(environment.packages)} packages, Python {environment.python.version} → {output_dir}")
        if mlflow_run is not None:
            say(f"logged to run {mlflow_run} under reprise/")

    emit(data, as_json=json_output, render=render)


@app.command()
def diff(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="A capture folder or an MLflow run id.")],
    b: Annotated[str, typer.Argument(help="A capture folder or an MLflow run id.")],
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when the environments differ.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the differences as JSON.")] = False,
) -> None:
    """Show what differs between two environments: packages, Python, OS, CPU, BLAS, env vars."""
    from reprise.capture.environment import diff_environments

    settings = settings_for(ctx)
    with tempfile.TemporaryDirectory(prefix="reprise-env-") as tmp:
        difference = diff_environments(_load(settings, a, Path(tmp) / "a"), _load(settings, b, Path(tmp) / "b"))
    emit(difference.model_dump(mode="json"), as_json=json_output, render=lambda: _render_diff(difference))
    if exit_code and not difference.is_empty:
        raise typer.Exit(1)


def _load(settings: Settings, source: str, scratch: Path) -> Environment:
    from reprise.capture.environment import load_capture

    folder = Path(source)
    if not folder.is_dir():
        from reprise.capture.layout import ARTIFACT_DIR
        from reprise.tracking._client import fetch_artifacts

        folder = fetch_artifacts(settings, source, ARTIFACT_DIR, scratch)
    return load_capture(folder)


def _render_diff(difference: EnvironmentDiff) -> None:
    from rich.text import Text

    if difference.is_empty:
        say("environments are identical")
        return
    table = compact_table("what", "A", "B", title="environment differences")
    for package in difference.packages_removed:
        table.add_row(f"package {package.name}", package.version, Text("absent", style="red"))
    for package in difference.packages_added:
        table.add_row(f"package {package.name}", Text("absent", style="green"), package.version)
    for change in difference.packages_changed:
        table.add_row(f"package {change.name}", change.old.requirement(), change.new.requirement())
    for field in difference.fields:
        table.add_row(field.field, str(field.old), str(field.new))
    print_table(table)
