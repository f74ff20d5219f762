"""``reprise reproduce``, ``reprise validate`` and ``reprise audit``: re-run, check against a reference, find noise.

Exit codes gate CI: ``reproduce`` 0 when identical or within tolerance, 1 when different or failed, 4 when
unverified (nothing to compare), 5 when the run's record was altered or is corrupt; ``validate`` 0 within
tolerance, 1 outside, 2 when the check cannot be made (bad input, unknown run, unreadable reference); ``audit`` 0
when clean, 1 when something differs between runs, 4 when there was nothing to compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import emit, out_console, say

if TYPE_CHECKING:
    from pydantic import BaseModel

    from reprise.reproduce.audit import AuditReport
    from reprise.reproduce.compare import MetricDelta, Tolerance
    from reprise.reproduce.replay import Reproduction
    from reprise.reproduce.targets import TargetReproduction
    from reprise.reproduce.validate import ValidationReport

__all__ = ["register"]

#: Exit code of a reproduction that had nothing to compare (neither success nor a difference).
_UNVERIFIED = 4

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the full result as JSON on stdout.")]
ReportOption = Annotated[Path | None, typer.Option("--report", help="Also write the result as JSON to this file.")]
HtmlOption = Annotated[
    Path | None, typer.Option("--html", help="Also write a self-contained HTML report (no network) to this file.")
]
AtolOption = Annotated[
    float, typer.Option("--tolerance", "--atol", min=0.0, help="Absolute tolerance on metrics and predictions.")
]
RtolOption = Annotated[float, typer.Option("--rtol", min=0.0, help="Relative tolerance (relative to the original).")]


def reproduce(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Argument(
            help="What to reproduce: a run id (or runs:/<id>), models:/NAME/VERSION, models:/NAME@ALIAS, "
            "version:NAME, data:NAME or release:NAME@VERSION (none with --batch).",
            show_default=False,
            metavar="TARGET",
        ),
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Folder for the worktree and the venv (default: a temp folder).")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the worktree and the venv afterwards.")] = False,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Use the current checkout and interpreter (no worktree, no venv).")
    ] = False,
    tolerance: AtolOption = 1e-6,
    rtol: RtolOption = 0.0,
    packages: Annotated[
        list[str] | None,
        typer.Option("--with", help="Replace a recorded pin, e.g. --with numpy==2.3.5 (a what-if; repeatable)."),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="Set an environment variable over the recorded one, e.g. --env OMP_NUM_THREADS=2."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not show the re-run's own output.")] = False,
    report: ReportOption = None,
    html: HtmlOption = None,
    batch: Annotated[
        list[str] | None,
        typer.Option(
            "--batch",
            help="Re-verify everything QUERY selects as Dask tasks instead of one TARGET: alias:[MODEL@]ALIAS, "
            "env:ENV, downstream:REF, or a target (repeatable).",
            metavar="QUERY",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="With --batch: local Dask worker processes.")] = 2,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="With --batch: a running Dask scheduler (tcp://HOST:8786).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Re-run TARGET from its records alone and say: identical, within tolerance, different, failed or unverified.

    Makes a git worktree at the recorded commit (with the recorded patch), restores the input data by hash and
    verifies it, builds a fresh venv with uv from the recorded pins, re-runs the recorded command with the recorded
    seed as a new captured run (tagged reprise.reproduction_of), then compares metrics, predictions, the files the
    run wrote and the numbers it printed, and explains. Exits 0 when identical or within tolerance, 1 when different
    or failed, 4 when nothing could be compared, 5 when the record was altered after capture or is corrupt.
    A run nested in a captured run (a candidate model) is re-run through it and judged on its own metrics; a model
    version through the run that produced it; a unified version through every run in it (a verdict each, and the
    worst overall); a data version is checked out and every byte verified. Every verdict is kept in the metadata
    store (see `reprise lineage show`).

    With --batch QUERY, every target the queries select is re-verified as a Dask task (on --cluster, else on a local
    cluster of --workers processes): one verdict each and a summary; exit 0 when all reproduce, 1 otherwise, 2 for a
    malformed query, 3 for one that selects nothing.

        reprise reproduce 4c7db37c9e1b4f0a8a3e1f6e2b7d9c01 --html reproduction.html
        reprise reproduce models:/breast_cancer_classifier@staging
        reprise reproduce --batch alias:production --batch env:production --workers 4
    """
    from reprise.reproduce.replay import Reproduction
    from reprise.reproduce.targets import reproduce_target

    if batch or target is None:
        _batch_only(
            target,
            batch,
            {
                "--workdir": workdir,
                "--keep": keep,
                "--with": packages,
                "--env": env,
                "--report": report,
                "--html": html,
            },
        )
        from reprise.cli._batch import verify_many

        verify_many(
            ctx, batch or [], workers=workers, cluster=cluster, in_place=in_place,
            tolerance=_tolerance(tolerance, rtol), json_output=json_output,
        )  # fmt: skip
        return
    settings = settings_for(ctx)
    result = reproduce_target(
        target,
        settings=settings,
        workdir=workdir,
        keep=keep,
        in_place=in_place,
        tolerance=_tolerance(tolerance, rtol),
        packages=packages or (),
        env=_assignments(env or []),
        echo=not quiet,
        on_step=say,
    )
    if not isinstance(result, Reproduction):
        _write(result, report, None)
        emit(result.model_dump(mode="json"), as_json=json_output, render=lambda: _render_components(result))
        if not result.verdict.ok:
            raise typer.Exit(_UNVERIFIED if result.verdict.value == "unverified" else 1)
        return
    _write(result, report, html)
    emit(result.model_dump(mode="json"), as_json=json_output, render=lambda: _render_reproduction(result))
    if json_output:
        from rich.markup import escape

        say(escape(result.headline))
    if not result.verdict.ok:
        raise typer.Exit(_UNVERIFIED if result.verdict.value == "unverified" else 1)


def validate(
    ctx: typer.Context,
    run: Annotated[
        str | None, typer.Option("--run", help="The run to check or save (default: the latest captured run).")
    ] = None,
    save_reference: Annotated[
        Path | None, typer.Option("--save-reference", help="Write the run's metrics and a prediction sample here.")
    ] = None,
    reference_metrics_file: Annotated[
        Path | None, typer.Option("--reference-metrics-file", help="Check against this reference file.")
    ] = None,
    reference_run_id: Annotated[
        str | None, typer.Option("--reference-run-id", help="Check against this run instead.")
    ] = None,
    tolerance: AtolOption = 1e-6,
    rtol: RtolOption = 0.0,
    sample_size: Annotated[
        int, typer.Option("--sample-size", min=1, help="Prediction rows kept by --save-reference.")
    ] = 1000,
    report: ReportOption = None,
    html: HtmlOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Check a run against a reference (exit 0 within tolerance, 1 outside, 2 bad input), or save one.

    reprise validate --save-reference reference.json --run RUN_ID
    reprise validate --run RUN_ID --reference-metrics-file reference.json --tolerance 1e-6
    """
    from reprise.errors import ConfigError, RepriseError

    try:
        if save_reference is not None:
            if reference_metrics_file is not None or reference_run_id is not None:
                raise ConfigError(
                    "--save-reference cannot be combined with a reference to check against",
                    hint="save first, then check: reprise validate --run RUN_ID --reference-metrics-file FILE",
                )
            _save(ctx, save_reference, run, sample_size, json_output)
            return
        from reprise.reproduce.validate import validate_run

        result = validate_run(
            run,
            reference_file=reference_metrics_file,
            reference_run_id=reference_run_id,
            tolerance=_tolerance(tolerance, rtol),
            settings=settings_for(ctx),
        )
    except RepriseError as exc:
        exc.exit_code = 2  # the check could not be made: neither "within" (0) nor "outside" (1) tolerance
        raise
    _write(result, report, html)
    emit(result.model_dump(mode="json"), as_json=json_output, render=lambda: _render_validation(result))
    raise typer.Exit(result.exit_code)


def audit(
    ctx: typer.Context,
    target: Annotated[
        list[str] | None,
        typer.Argument(help="DVC stage names, or a command after `--`.", show_default=False),
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=2, help="How many times to run it.")] = 2,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="A file or folder the command reads (repeatable).")
    ] = None,
    outputs: Annotated[
        list[str] | None, typer.Option("--output", "-o", help="A file or folder the command writes (repeatable).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Root seed (default: from reprise.toml).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not show the runs' own output.")] = False,
    report: ReportOption = None,
    html: HtmlOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Run the same thing twice (same inputs, same seed) and list every output and metric that differs.

    TARGET is one or more DVC stages of dvc.yaml (run with dvc repro --force), or a command after `--`.
    Exits 0 when every output and metric is the same in every run, 1 when something differs, 4 when there was
    nothing to compare (no file written or declared, no metric or predictions logged).

        reprise audit train
        reprise audit --runs 3 -- python train.py
    """
    from reprise.reproduce.audit import audit_command, audit_stages

    settings = settings_for(ctx)
    args = target or []
    if args and not (inputs or outputs) and _are_stages(args, settings.project_dir):
        result = audit_stages(args, runs=runs, settings=settings, echo=not quiet)
    else:
        result = audit_command(
            args, runs=runs, inputs=inputs or (), outputs=outputs or (), seed=seed, settings=settings, echo=not quiet
        )
    _write(result, report, html)
    emit(result.model_dump(mode="json"), as_json=json_output, render=lambda: _render_audit(result))
    if json_output:
        from rich.markup import escape

        say(escape(result.headline))
    if not result.clean:
        raise typer.Exit(_UNVERIFIED if result.verdict == "unverified" else 1)


def register(app: typer.Typer) -> None:
    """Add ``reproduce``, ``validate`` and ``audit`` to the root app."""
    app.command()(reproduce)
    app.command()(validate)
    app.command()(audit)  # a command goes after `--`, so options may follow stage names


def _are_stages(args: list[str], root: Path) -> bool:
    """Stage names of dvc.yaml rather than a command: all of them are stages, or the first is no program at all."""
    import shutil

    from reprise.data.dvc import stage_names

    if not (root / "dvc.yaml").is_file():
        return False
    if set(args) <= set(stage_names(root)):
        return True
    return shutil.which(args[0]) is None and not Path(args[0]).exists()


def _batch_only(target: str | None, batch: list[str] | None, single: dict[str, Any]) -> None:
    """Refuse a TARGET beside --batch (or neither), and the options of a single reproduction with --batch."""
    from reprise.errors import ConfigError

    if not batch:
        raise ConfigError("reprise reproduce needs a TARGET or --batch QUERY", hint="reprise reproduce --help")
    if target is not None:
        raise ConfigError(
            f"give TARGET {target!r} or --batch, not both", hint=f"a target is a query too: --batch {target}"
        )
    given = [flag for flag, value in single.items() if value]
    if given:
        raise ConfigError(
            f"{', '.join(given)} apply to one reproduction, not to --batch",
            hint="--batch takes --in-place, --tolerance, --rtol, --workers, --cluster and --json",
        )


def _assignments(values: list[str]) -> dict[str, str]:
    from reprise.errors import ConfigError

    pairs = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--env {value!r} is not NAME=VALUE", hint="e.g. --env OMP_NUM_THREADS=2")
        pairs[name.strip()] = setting
    return pairs


def _tolerance(atol: float, rtol: float) -> Tolerance:
    from reprise.reproduce.compare import Tolerance

    return Tolerance(atol=atol, rtol=rtol)


def _save(ctx: typer.Context, path: Path, run: str | None, sample_size: int, json_output: bool) -> None:
    from reprise.reproduce.validate import save_reference

    reference = save_reference(path, run_id=run, settings=settings_for(ctx), sample_size=sample_size)
    predictions = reference.predictions
    data: dict[str, Any] = {
        "reference": str(path),
        "run_id": reference.run_id,
        "metrics": reference.metrics,
        "prediction_sample": 0 if predictions is None else len(predictions.indices),
    }

    def render() -> None:
        sample = f" and {data['prediction_sample']} sampled predictions" if predictions else ""
        say(f"saved {len(reference.metrics)} metrics{sample} of run {reference.run_id} to {path}")

    emit(data, as_json=json_output, render=render)


def _write(result: BaseModel, json_path: Path | None, html_path: Path | None) -> None:
    from reprise.reproduce.report import write_report

    for path in write_report(result, json_path=json_path, html_path=html_path):
        say(f"wrote {path}")


def _metric_table(first: str, second: str) -> Any:
    from rich.table import Table

    table = Table()
    table.add_column("metric", overflow="fold")
    for name in (first, second, "delta"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("within tolerance?")
    table.add_column("status")
    return table


def _metric_rows(table: Any, metrics: tuple[MetricDelta, ...], *, only_changed: bool) -> None:
    for m in metrics:
        if only_changed and m.status == "identical":
            continue
        within = m.status in ("identical", "within_tolerance", "equivalent")
        mark = "[green]yes[/green]" if within else "[red]no[/red]"
        table.add_row(m.name, _num(m.original), _num(m.reproduced), _num(m.delta), mark, m.status)


def _render_reproduction(result: Reproduction) -> None:
    from rich.markup import escape

    comparison = result.comparison
    colour = "green" if result.verdict.value == "identical" else "yellow" if result.verdict.ok else "red"
    say(f"[bold {colour}]{escape(result.headline)}[/bold {colour}]")
    say(f"original run {result.original_run_id} → reproduction run {result.reproduction_run_id}")
    changed = [m for m in comparison.metrics if m.status != "identical"]
    if result.verdict.value == "identical":
        say(f"{comparison.evidence_summary}: all bitwise identical")
    elif comparison.metrics:
        identical = len(comparison.metrics) - len(changed)
        table = _metric_table("original", "reproduced")
        table.title = f"metrics ({identical} of {len(comparison.metrics)} bitwise identical)"
        _metric_rows(table, comparison.metrics, only_changed=len(comparison.metrics) > 12)
        out_console().print(table)
    for line in [line for line in comparison.differences if not line.startswith("metric ")]:
        say(f"  {line}")
    for number, cause in enumerate(result.explanation.causes, start=1):
        say(f"{number}. {cause.title}")
        for line in cause.evidence[:6]:
            say(f"     {line}")
    t = result.timings
    say(
        f"timings: worktree {t.worktree:.1f} s, data {t.data:.1f} s, environment {t.environment:.1f} s, "
        f"run {t.run:.1f} s, compare {t.compare:.1f} s, total {t.total:.1f} s"
    )
    if result.workdir:
        say(f"kept: {result.workdir}")


def _render_components(result: TargetReproduction) -> None:
    from rich.markup import escape

    colour = "green" if result.verdict.value == "identical" else "yellow" if result.verdict.ok else "red"
    say(f"[bold {colour}]{escape(result.headline)}[/bold {colour}]")
    for component in result.components:
        say(f"  {component.verdict.value:<16} {escape(component.ref)}: {escape(component.headline)}")
    say(f"recorded as reproduction:{result.reproduction_id}")


def _render_validation(result: ValidationReport) -> None:

    table = _metric_table("reference", "current")
    _metric_rows(table, result.metrics, only_changed=False)
    out_console().print(table)
    if result.predictions is not None:
        p = result.predictions
        say(f"predictions: {p.status}" + (f" ({p.detail})" if p.detail else f" ({p.n_total} compared)"))
    verdict = "[green]within tolerance[/green]" if result.passed else "[red]outside tolerance[/red]"
    say(f"run {result.run_id} vs {result.reference}: {verdict}")


def _render_audit(result: AuditReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    if result.verdict == "nondeterministic":
        table = Table("nondeterministic output", "stage", "sha256 per run", "how it differs")
        for output in result.nondeterministic_outputs:
            table.add_row(
                output.path,
                output.stage or "-",
                " / ".join((h or "absent")[:10] for h in output.sha256),
                output.detail or "",
            )
        for metric in result.nondeterministic_metrics:
            values = " / ".join(_num(v) for v in metric.values)
            table.add_row(f"metric {metric.name}", metric.stage or "-", values, f"max |Δ| {_num(metric.max_abs_delta)}")
        out_console().print(table)
        for hint in result.hints[:10]:
            say(f"suspect: {escape(hint)}")
    colour = {"clean": "green", "unverified": "yellow"}.get(result.verdict, "red")
    say(f"[{colour}]{escape(result.headline)}[/{colour}]")
    if result.verdict == "unverified":
        say("declare what the command writes (-o PATH), or log metrics or predictions (reprise.start_run, MLflow)")


def _num(value: float | None) -> str:
    return "-" if value is None else repr(value)
