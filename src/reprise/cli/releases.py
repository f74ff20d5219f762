"""``reprise release``: semver'd releases promoted through environments behind guards, with a chained history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import compact_table, emit, out_console, print_table, say

if TYPE_CHECKING:
    from reprise.versioning.release_diff import ReleaseDiff
    from reprise.versioning.release_history import ReleaseHistory
    from reprise.versioning.releases import Release
    from reprise.versioning.revocations import Revocation

__all__ = ["app", "render_revocation"]

app = typer.Typer(
    help="Releases: a semver'd, immutable set of components promoted dev -> staging -> production behind guards.",
    no_args_is_help=True,
)

_JSON = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
_REF = Annotated[str, typer.Argument(help="The release, NAME@VERSION.", show_default=False)]
_REASON = Annotated[str, typer.Option("--reason", help="Why (kept in the history).")]
_FORCE = Annotated[bool, typer.Option("--force", help="Override failing guards (needs --reason; recorded).")]
_GIT_TAG = Annotated[
    bool,
    typer.Option("--git-tag", help="Also write the git tag a git-tag registry reads (NAME@vX.Y.Z, NAME#ENV#N)."),
]


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The release name (letters, digits, ._-).", show_default=False)],
    version: Annotated[str, typer.Argument(help="A semantic version: 1.2.0, v2.0.0-rc.1...", show_default=False)],
    from_version: Annotated[
        str, typer.Option("--from", help="The unified version to release (version:NAME).", show_default=False)
    ],
    notes: Annotated[str, typer.Option("--notes", help="Free text kept with the release.")] = "",
    git_tag: _GIT_TAG = False,
    json_output: _JSON = False,
) -> None:
    """Freeze a unified version's components, with their digests, as release NAME@VERSION (a draft).

    reprise release create churn 1.2.0 --from version:churn-2026-12
    """
    from reprise.versioning.releases import create_release

    release = create_release(
        name, version, from_version=from_version, notes=notes, git_tag=git_tag, settings=settings_for(ctx)
    )
    emit(release.model_dump(mode="json"), as_json=json_output, render=lambda: _render(release))


@app.command("list")
def list_(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this release name.", show_default=False)] = None,
    json_output: _JSON = False,
) -> None:
    """Every release, by name then semver precedence."""
    from reprise.versioning.releases import list_releases

    releases = list_releases(name, settings=settings_for(ctx))

    def render() -> None:
        table = compact_table("release", "status", "from", "model", "created", keep=("release", "model"))
        for release in releases:
            table.add_row(
                f"{release.name}@{release.version}",
                release.status,
                release.unified_version,
                release.model or "",
                f"{release.created_at:%Y-%m-%d %H:%M} by {release.actor}",
            )
        print_table(table)

    emit([release.model_dump(mode="json") for release in releases], as_json=json_output, render=render)


@app.command()
def show(ctx: typer.Context, ref: _REF, json_output: _JSON = False) -> None:
    """One release and every component with its digest."""
    from reprise.versioning.releases import get_release

    release = get_release(ref, settings=settings_for(ctx))
    emit(release.model_dump(mode="json"), as_json=json_output, render=lambda: _render(release))


@app.command()
def promote(
    ctx: typer.Context,
    ref: _REF,
    to: Annotated[str, typer.Option("--to", help="The environment to promote to.", show_default=False)],
    force: _FORCE = False,
    reason: _REASON = "",
    git_tag: _GIT_TAG = False,
    json_output: _JSON = False,
) -> None:
    """Promote a release one environment up; the environment's alias follows its model version.

    Refused (naming the guard) when the release skips an environment, is deprecated, has no good reproduction, depends
    on something revoked, its model failed its gates, or is a pre-release going to the last environment.

    reprise release promote churn@1.2.0 --to staging
    """
    from reprise.versioning.promotion import promote_release

    move = promote_release(ref, to, force=force, reason=reason, git_tag=git_tag, settings=settings_for(ctx))
    emit(move.model_dump(mode="json"), as_json=json_output, render=lambda: out_console().print(move.describe()))


@app.command()
def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The release name.", show_default=False)],
    env: Annotated[str, typer.Option("--env", help="The environment to roll back.", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why (required; kept in the history).", show_default=False)],
    to: Annotated[str | None, typer.Option("--to", help="The version to put back (default: the previous).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Put back a revoked release anyway (recorded).")] = False,
    git_tag: _GIT_TAG = False,
    json_output: _JSON = False,
) -> None:
    """Put back the release that ran in ENV before the current one (its own event in the history).

    reprise release rollback churn --env production --reason "latency regression"
    """
    from reprise.versioning.promotion import rollback_release

    move = rollback_release(name, env, reason=reason, to=to, force=force, git_tag=git_tag, settings=settings_for(ctx))
    emit(move.model_dump(mode="json"), as_json=json_output, render=lambda: out_console().print(move.describe()))


@app.command()
def verify(
    ctx: typer.Context,
    ref: _REF,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Use the current checkout and interpreter (no worktree, no venv).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not show the re-runs' own output.")] = False,
    json_output: _JSON = False,
) -> None:
    """Reproduce every component of a release in isolation and record the verdict in its history.

    Same as `reprise reproduce release:NAME@VERSION`. Exits 1 unless identical or within tolerance.
    """
    from reprise.reproduce.targets import reproduce_target

    result = reproduce_target(f"release:{ref.removeprefix('release:')}", settings=settings_for(ctx), in_place=in_place,
                              echo=not quiet, on_step=say)  # fmt: skip
    emit(result.model_dump(mode="json"), as_json=json_output, render=lambda: say(result.headline))
    if not result.verdict.ok:
        raise typer.Exit(1)


@app.command()
def deprecate(ctx: typer.Context, ref: _REF, reason: _REASON = "", json_output: _JSON = False) -> None:
    """Mark a release deprecated: it stays where it runs, and is not promoted any more."""
    from reprise.versioning.releases import deprecate_release

    release = deprecate_release(ref, reason=reason, settings=settings_for(ctx))
    emit(release.model_dump(mode="json"), as_json=json_output, render=lambda: _render(release))


@app.command()
def revoke(ctx: typer.Context, ref: _REF, reason: _REASON = "", json_output: _JSON = False) -> None:
    """Revoke a release: it is not promoted any more; lists where it runs now."""
    from reprise.versioning.revocations import revoke_release

    revocation = revoke_release(ref, reason=reason, settings=settings_for(ctx))
    emit(revocation.model_dump(mode="json"), as_json=json_output, render=lambda: render_revocation(revocation))


@app.command()
def history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The release name.", show_default=False)],
    env: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Up to this time (ISO, UTC if no zone): what ran where then.")
    ] = None,
    verify_chain: Annotated[
        bool, typer.Option("--verify-chain", help="Recompute the hash chain; exit 1 if an event was edited or deleted.")
    ] = False,
    json_output: _JSON = False,
) -> None:
    """Every create, verify, promote, rollback, deprecate and revoke of NAME, with who, when, from, to and why.

    reprise release history churn --env production --at 2026-11-01T12:00
    """
    from reprise.registry.history import parse_time
    from reprise.versioning.release_history import release_history

    found = release_history(
        name,
        environment=env,
        at=parse_time(at) if at else None,
        verify_chain=verify_chain,
        settings=settings_for(ctx),
    )
    emit(found.model_dump(mode="json"), as_json=json_output, render=lambda: _render_history(found))
    if found.chain_problems:
        raise typer.Exit(1)


@app.command()
def attest(
    ctx: typer.Context,
    ref: _REF,
    key: Annotated[
        str | None, typer.Option("--key", help="The key id to sign with (default: the newest here).")
    ] = None,
    export: Annotated[
        bool, typer.Option("--export", help="Also write releases/NAME/VERSION.intoto.jsonl in the project.")
    ] = False,
    json_output: _JSON = False,
) -> None:
    """Sign an in-toto/SLSA provenance attestation of the release (DSSE, Ed25519) and store it with the release."""
    from reprise.versioning.attestation import attest_release

    made = attest_release(ref, key_id=key, export=export, settings=settings_for(ctx))

    def render() -> None:
        where = f", exported to {made.path}" if made.path else ""
        out_console().print(
            f"attested {made.release}: {len(made.subjects)} model files, signed by {made.key_id}{where}",
            highlight=False,
            markup=False,
        )

    emit(made.model_dump(mode="json"), as_json=json_output, render=render)


@app.command("verify-attestation")
def verify_attestation(ctx: typer.Context, ref: _REF, json_output: _JSON = False) -> None:
    """Check the release's attestation: a trusted, unrevoked key's signature, the release and model bytes unchanged.

    Exits 6 when it does not verify.
    """
    from reprise.errors import AttestationError
    from reprise.versioning.attestation import verify_attestation as verify

    check = verify(ref, settings=settings_for(ctx))
    if json_output:
        emit(check.model_dump(mode="json"), as_json=True)
    if not check.ok:
        raise AttestationError(
            f"{check.release}: attestation refused: {'; '.join(check.problems)}",
            hint=f"find out why, then re-attest: reprise release attest {check.release.removeprefix('release:')}",
        )
    if not json_output:
        out_console().print(f"{check.release}: attestation verified, signed by {check.key_id}", highlight=False)


@app.command()
def diff(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="The first release, NAME@VERSION.", show_default=False)],
    b: Annotated[str, typer.Argument(help="The second release, NAME@VERSION.", show_default=False)],
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML page here.", dir_okay=False)
    ] = None,
    json_output: _JSON = False,
) -> None:
    """What changed from A to B: components, parameters, metrics (deltas), gates, packages, data, reproductions.

    reprise release diff churn@1.1.0 churn@1.2.0 --html diff.html
    """
    from reprise._canonical import write_atomic
    from reprise.versioning.release_diff import diff_releases

    found = diff_releases(a, b, settings=settings_for(ctx))
    if html is not None:
        write_atomic(html, found.to_html())
        say(f"wrote {html}")
    emit(found.model_dump(mode="json"), as_json=json_output, render=lambda: _render_diff(found))


def render_revocation(revocation: Revocation) -> None:
    """Print a revocation and the releases active in an environment that depend on it."""
    console = out_console()
    console.print(f"revoked {revocation.ref}: {revocation.reason}", highlight=False, markup=False)
    console.print(f"  releases depending on it: {', '.join(revocation.releases) or 'none'}", highlight=False)
    for active in revocation.active:
        console.print(
            f"  active in {active.environment}: {active.release} (promoted by {active.promoted_by} at "
            f"{active.promoted_at:%Y-%m-%d %H:%M} UTC)",
            highlight=False,
            markup=False,
        )


def _render(release: Release) -> None:
    console = out_console()
    build = f"+{release.build}" if release.build else ""
    console.print(f"{release.ref}{build}  [{release.status}]", highlight=False, markup=False)
    console.print(f"  from         version:{release.unified_version}", highlight=False)
    for component in release.components:
        console.print(f"  component    {component.ref}  {component.digest or ''}", highlight=False, markup=False)
    if release.attestation_digest:
        console.print(f"  attestation  {release.attestation_digest}", highlight=False)
    if release.notes:
        console.print(f"  notes        {release.notes}", highlight=False, markup=False)
    console.print(f"  created      {release.created_at:%Y-%m-%d %H:%M:%S} UTC by {release.actor}", highlight=False)


def _render_diff(found: ReleaseDiff) -> None:
    console = out_console()
    console.print(f"{found.a} -> {found.b}", highlight=False, markup=False)
    for component in found.components:
        console.print(f"  component  {component.a or '-'}  ->  {component.b or '-'}", highlight=False, markup=False)
    for param in found.params:
        console.print(f"  param      {param.name}: {param.a} -> {param.b}", highlight=False, markup=False)
    for metric in found.metrics:
        delta = "" if metric.delta is None else f" ({metric.delta:+.6g})"
        console.print(f"  metric     {metric.name}: {metric.a} -> {metric.b}{delta}", highlight=False, markup=False)
    console.print(f"  gates      {found.gates[0]} -> {found.gates[1]}", highlight=False, markup=False)
    packages = found.packages
    for change in packages.packages_changed:
        console.print(f"  package    {change.name}: {change.old.version} -> {change.new.version}", highlight=False)
    for added in packages.packages_added:
        console.print(f"  package    {added.name}: added {added.version}", highlight=False)
    for removed in packages.packages_removed:
        console.print(f"  package    {removed.name}: removed {removed.version}", highlight=False)
    for data in found.data:
        console.print(
            f"  data       {data.a} -> {data.b}: {len(data.files.added)} added, {len(data.files.removed)} removed, "
            f"{len(data.files.changed)} changed",
            highlight=False,
            markup=False,
        )
    console.print(f"  reproduced {found.reproductions[0]} -> {found.reproductions[1]}", highlight=False, markup=False)


def _render_history(found: ReleaseHistory) -> None:
    console = out_console()
    for event in found.events:
        console.print(
            f"{event.position:>4}  {event.at:%Y-%m-%d %H:%M:%S} UTC  {event.actor:<24} {event.describe()}",
            highlight=False,
            markup=False,
        )
    when = f" at {found.at:%Y-%m-%d %H:%M:%S} UTC" if found.at else " now"
    for active in found.active:
        console.print(
            f"active in {active.environment}{when}: {found.name}@{active.version} ({active.kind} by {active.by} at "
            f"{active.since:%Y-%m-%d %H:%M:%S} UTC)",
            highlight=False,
            markup=False,
        )
    if found.chain_verified:
        if found.chain_problems:
            for problem in found.chain_problems:
                say(f"[red]chain broken:[/red] {problem}")
        else:
            say(f"chain of {found.name} intact: every event's hash recomputed, none missing")
