"""``reprise data``: manifests, named data versions (DVC underneath), checkout, verification and diff."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import compact_table, emit, err_console, out_console, print_result, print_table, say, short_id
from reprise.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from reprise.data.checks import ManifestValidation
    from reprise.data.diff import DataDiff
    from reprise.data.manifest import Manifest
    from reprise.data.tablediff import TableChange
    from reprise.data.versions import DataVersion

__all__ = ["app"]

app = typer.Typer(help="Hash, version, check out, verify and compare data (DVC keeps the bytes).", no_args_is_help=True)

_JSON = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
_REHASH = Annotated[bool, typer.Option("--rehash", help="Re-read every file; ignore the stat cache.")]


@app.command()
def manifest(
    path: Annotated[Path, typer.Argument(help="The file or folder to hash.")],
    algo: Annotated[
        list[str] | None,
        typer.Option("--algo", "-a", help="md5, sha1, sha256, sha512 or blake3 (repeatable; default md5+sha256)."),
    ] = None,
    include: Annotated[list[str] | None, typer.Option("--include", help="Only files matching this glob.")] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Skip files/folders matching this glob.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the manifest JSON here.")] = None,
    validate: Annotated[
        Path | None, typer.Option("--validate", help="Check PATH against this manifest; exit 1 on any difference.")
    ] = None,
    max_files: Annotated[int | None, typer.Option("--max-files", help="Hash at most this many files.")] = None,
    rehash: _REHASH = False,
    json_output: _JSON = False,
) -> None:
    """Hash every file under PATH (one read per file, in parallel, stat-cached), or check PATH against a manifest.

    reprise data manifest data/ --algo sha256 --exclude '*.tmp' -o data.manifest.json
    reprise data manifest data/ --validate data.manifest.json
    """
    from reprise.data.hashing import DEFAULT_ALGORITHMS
    from reprise.data.manifest import Manifest

    if validate is not None:
        from reprise.data.verify import verify_manifest

        with _progress("verifying") as progress:
            report = verify_manifest(validate, path, rehash=rehash, on_progress=progress)
        _emit_validation(str(path), report, as_json=json_output)
        if not report.ok:
            raise typer.Exit(1)
        return
    with _progress("hashing") as progress:
        made = Manifest.generate(
            path,
            algo or DEFAULT_ALGORITHMS,
            include=include or (),
            exclude=exclude or (),
            max_files=max_files,
            rehash=rehash,
            on_progress=progress,
        )
    if output is not None:
        made.save(output)
    data: Any = made.model_dump(mode="json") if output is None else {"output": str(output), **_brief(made)}
    emit(data, as_json=json_output, render=lambda: _render_manifest(made, output))


@app.command()
def verify(
    ctx: typer.Context,
    target: Annotated[
        str | None, typer.Argument(help="A version name or a versioned path (default: every versioned path).")
    ] = None,
    rehash: _REHASH = False,
    json_output: _JSON = False,
) -> None:
    """Check the work tree against recorded data versions; exit 1 when anything differs.

    A changed table file is named with a finer verdict when the recorded bytes are in the DVC cache: the same
    table under new bytes, or different content (rows added/removed, columns changed). With --rehash every byte
    is read again, which also catches a corrupted stat cache.
    """
    from reprise.data.versions import verify_data

    settings = settings_for(ctx)
    with _progress("verifying") as progress:
        results = verify_data(target, rehash=rehash, settings=settings, on_progress=progress)
    data = [
        {
            "name": r.name,
            "path": r.file_path,
            "ok": r.ok,
            **r.validation.model_dump(mode="json"),
            "tables": [change.model_dump(mode="json") for change in r.tables],
        }
        for r in results
    ]

    def render() -> None:
        for result in results:
            _render_validation(f"{result.file_path} ({result.name})", result.validation)
            for change in result.tables:
                out_console().print(f"{result.file_path} ({result.name}): {change.path}: {change.summary()}")
        if not results:
            say("no data versions to verify (reprise data version PATH --name NAME)")

    emit(data, as_json=json_output, render=render)
    if not all(result.ok for result in results):
        raise typer.Exit(1)


@app.command()
def version(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The file or folder to version (inside the project).")],
    name: Annotated[str, typer.Option("--name", "-n", help="The version's name (unique).")],
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Metadata as key=value (repeatable).")] = None,
    json_output: _JSON = False,
) -> None:
    """Track PATH with DVC and record it as a named version (DVC hash, manifest, table schemas and content digests).

    Reprise commits the .dvc file (and the .gitignore beside it), so the recorded commit brings the version back;
    it says when a table's content is already versioned under another name.

    reprise data version data/train.csv --name train-v1 --meta source=crm
    """
    from reprise.data.versions import version_data

    settings = settings_for(ctx)
    metadata = _parse_meta(meta or [])
    with _progress("hashing") as progress:
        made = version_data(path, version_name=name, metadata=metadata, settings=settings, on_progress=progress)

    def render() -> None:
        shape = "" if made.rows is None else f", {made.rows} rows x {made.columns} columns"
        print_result(f"versioned {made.file_path} as {made.name} ({made.files} files, {_size(made.size_bytes)}{shape})")
        print_result(f"dvc {made.dvc_md5}  manifest {made.manifest_digest}  commit {(made.git_commit or '-')[:12]}")
        for table in made.tables:
            if table.identity is not None:
                print_result(f"{table.path}: content {table.identity.content_digest}")
            if table.same_content_as:
                print_result(f"{table.path}: same table as data version(s) {', '.join(table.same_content_as)}")

    emit(made.model_dump(mode="json"), as_json=json_output, render=render)


@app.command("list")
def list_(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(help="Only versions of this file or folder.")] = None,
    json_output: _JSON = False,
) -> None:
    """List data versions, oldest first."""
    from reprise.data.versions import list_data_versions

    versions = list_data_versions(path=path, settings=settings_for(ctx))
    emit([v.model_dump(mode="json") for v in versions], as_json=json_output, render=lambda: _render_list(versions))


@app.command()
def checkout(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The version to restore.")],
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite local changes (bytes in no stored version).")
    ] = False,
    json_output: _JSON = False,
) -> None:
    """Restore exactly the bytes of version NAME into the work tree (from the DVC cache or remote) and verify them.

    Refuses (exit 1) when the path holds local changes that no stored version has, unless --force.
    """
    from reprise.data.versions import checkout_data

    restored = checkout_data(name, force=force, settings=settings_for(ctx))
    emit(
        restored.model_dump(mode="json"),
        as_json=json_output,
        render=lambda: say(f"checked out {restored.name} into {restored.file_path} (verified, {restored.files} files)"),
    )


@app.command()
def diff(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="A version name (or a path).")],
    b: Annotated[
        str | None, typer.Argument(help="A version name or a path (default: A's path in the work tree).")
    ] = None,
    psi: Annotated[float, typer.Option("--psi-threshold", help="Flag a column when its PSI exceeds this.")] = 0.2,
    ks: Annotated[float, typer.Option("--ks-threshold", help="Flag a numeric column when KS exceeds this.")] = 0.1,
    html: Annotated[Path | None, typer.Option("--html", help="Also write a report with a plot per drift.")] = None,
    json_output: _JSON = False,
) -> None:
    """Show files added/removed/changed and, per changed table, a verdict: same table, or different content.

    Same table, different bytes: what differs (encoding, line endings, quoting, column or row order). Different
    content: rows added and removed with samples; columns added, removed or retyped; drift.
    """
    from reprise.data.diff import diff_data
    from reprise.data.profile import DriftThresholds

    result = diff_data(a, b, thresholds=DriftThresholds(psi=psi, ks=ks), settings=settings_for(ctx))
    if html is not None:
        from reprise.data.report import write_html

        write_html(result, html)
        say(f"wrote {html}")
    emit(result.model_dump(mode="json"), as_json=json_output, render=lambda: _render_diff(result))


@app.command()
def pull(
    ctx: typer.Context,
    uri: Annotated[
        str | None, typer.Argument(help="A SQLAlchemy URI (postgresql://user@host/db, sqlite:///f.db).")
    ] = None,
    query: Annotated[str | None, typer.Argument(help="The SELECT to run.")] = None,
    to: Annotated[Path | None, typer.Option("--to", help="The .parquet file to write (inside the project).")] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="The version's name (with --refresh: the new version's).")
    ] = None,
    refresh: Annotated[
        str | None, typer.Option("--refresh", help="Re-run the query of this pulled version; version it if changed.")
    ] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Metadata as key=value (repeatable).")] = None,
    json_output: _JSON = False,
) -> None:
    """Run a query on a database, write the rows as Parquet and version them; or refresh a pulled version.

    The version keeps the query, the URI (password hidden), the row count and the content digest.

    reprise data pull postgresql://analyst@db/sales "SELECT * FROM orders" --to data/orders.parquet --name orders
    reprise data pull --refresh orders   (with --refresh, URI is needed only when the stored one hides a password)
    """
    from reprise.data.pull import pull_data, refresh_data
    from reprise.data.sources import SqlSource

    settings = settings_for(ctx)
    if refresh is not None:
        result = refresh_data(refresh, uri=uri, new_name=name, settings=settings)
    else:
        if uri is None or query is None or to is None or name is None:
            raise ConfigError(
                "data pull needs URI, QUERY, --to and --name (or --refresh NAME)",
                hint='reprise data pull URI "SELECT ..." --to data/x.parquet --name NAME',
            )
        metadata = _parse_meta(meta or [])
        result = pull_data(SqlSource(uri, query), to, version_name=name, metadata=metadata, settings=settings)

    def render() -> None:
        made = result.version
        if not result.changed:
            print_result(f"content unchanged since {result.refreshed} ({result.rows} rows, {result.content_digest})")
            return
        if result.refreshed is not None:
            facts = result.change.summary() if result.change is not None else "the old bytes are not in the cache"
            print_result(f"content changed since {result.refreshed}: {facts}")
        if made is not None:
            digest = result.content_digest
            print_result(f"pulled {result.rows} rows into {made.file_path} as {made.name} (content {digest})")

    emit(result.model_dump(mode="json"), as_json=json_output, render=render)


@app.command()
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The data version (NAME or data:NAME).", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why it is bad (kept with the revocation).")] = "",
    json_output: _JSON = False,
) -> None:
    """Revoke a data version found bad: no release depending on it is promoted any more (unless forced).

    Prints the releases active in each environment that depend on it, with who promoted them and when.

        reprise data revoke raw@v3 --reason "labels shifted by one row"
    """
    from reprise.cli.releases import render_revocation
    from reprise.versioning.revocations import revoke_data

    revocation = revoke_data(name, reason=reason, settings=settings_for(ctx))
    emit(revocation.model_dump(mode="json"), as_json=json_output, render=lambda: render_revocation(revocation))


def _parse_meta(items: list[str]) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--meta {item!r} is not key=value", hint="reprise data version PATH --name N --meta source=crm"
            )
        pairs[key.strip()] = value
    return pairs


@contextlib.contextmanager
def _progress(verb: str, delay: float = 1.0) -> Iterator[Callable[[int, int], None]]:
    """A progress callback that shows a rich bar on stderr once the work has lasted ``delay`` seconds.

    Only on a terminal: piped or logged, a bar is noise (and leaves a blank line before the messages).
    """
    started = time.monotonic()
    console = err_console()
    bar: Any = None
    task: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar, task
        if bar is None:
            if not console.is_terminal or time.monotonic() - started < delay:
                return
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

            bar = Progress(
                f"[bold]{verb}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            bar.start()
            task = bar.add_task(verb, total=total)
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


def _size(size: int) -> str:
    from reprise.data.manifest import human_size

    return human_size(size)


def _brief(made: Manifest) -> dict[str, Any]:
    return {"digest": made.digest, "algorithms": list(made.algorithms), **made.summary.model_dump(mode="json")}


def _render_manifest(made: Manifest, output: Path | None) -> None:
    summary = made.summary
    line = (
        f"{summary.total_files} files, {summary.total_size_human} in {summary.processing_time:.2f} s "
        f"({summary.throughput_mb_s:.0f} MB/s; {summary.cache_hits} from the stat cache)"
    )
    if output is not None:
        say(f"wrote {output}: {line}")
        return
    say(line)
    out_console().print(f"{made.digest}  {made.root}", highlight=False)


def _emit_validation(where: str, report: ManifestValidation, *, as_json: bool) -> None:
    emit(
        {"path": where, "ok": report.ok, **report.model_dump(mode="json")},
        as_json=as_json,
        render=lambda: _render_validation(where, report),
    )


def _render_validation(where: str, report: ManifestValidation) -> None:
    if report.ok:
        say(f"{where}: OK ({report.checked} files, {report.files_read} read, {report.seconds:.2f} s)")
        return
    console = out_console()
    for line in report.problems():
        console.print(f"{where}: {line}", highlight=False)
    say(f"{where}: {len(report.problems())} problem(s)")


def _render_list(versions: list[DataVersion]) -> None:
    if not versions:
        say("no data versions yet (reprise data version PATH --name NAME)")
        return
    table = compact_table("name", "id", "path", "files", "size", "rows", "cols", "commit", "created", keep=("name",))
    for v in versions:
        table.add_row(
            v.name,
            short_id(v.version_id, width=10),
            v.file_path,
            str(v.files),
            _size(v.size_bytes),
            "" if v.rows is None else str(v.rows),
            "" if v.columns is None else str(v.columns),
            (v.git_commit or "")[:8],
            v.created_at.strftime("%y-%m-%d %H:%M"),
        )
    print_table(table)


def _render_change(change: TableChange) -> None:
    print_result(f"\n{change.path}: {change.verdict} (rows {change.rows_a} -> {change.rows_b})")
    for item in change.layout:
        print_result(f"  differs: {item}")
    if change.rows_added or change.rows_removed:
        print_result(f"  rows added: {change.rows_added}, rows removed: {change.rows_removed}")
    for label, rows in (("+", change.added), ("-", change.removed)):
        for row in rows:
            cells = ", ".join(f"{name}={value}" for name, value in row.cells.items())
            print_result(f"  {label} row {row.row}: {cells}")


def _render_diff(result: DataDiff) -> None:
    files = result.files
    if result.is_empty:
        say(f"{result.a} and {result.b} hold the same bytes")
        return
    for label, paths in (("added", files.added), ("removed", files.removed), ("changed", files.changed)):
        for path in paths:
            print_result(f"{label}: {path}")
    for change in result.contents:
        _render_change(change)
    for table in result.tables:
        print_result(f"\n{table.path}: rows {table.rows_a} -> {table.rows_b}")
        for name in table.columns_added:
            print_result(f"  column added: {name}")
        for name in table.columns_removed:
            print_result(f"  column removed: {name}")
        for retyped in table.columns_retyped:
            print_result(f"  column retyped: {retyped.column} {retyped.a} -> {retyped.b}")
        for item in table.drift:
            ks = "" if item.ks is None else f" KS {item.ks:.3f}"
            cats = f" new {list(item.new_categories)}" if item.new_categories else ""
            cats += f" vanished {list(item.vanished_categories)}" if item.vanished_categories else ""
            flag = "DRIFTED" if item.drifted else "ok"
            print_result(f"  {item.column}: {flag} PSI {item.psi:.3f}{ks}{cats}")
    say(f"{len(result.drifted)} drifted column(s) (PSI > {result.thresholds.psi}, KS > {result.thresholds.ks})")
