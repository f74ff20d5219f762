"""The one surface of a batch re-verification, behind ``reprise reproduce --batch`` and ``reprise team verify``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from reprise.cli._context import settings_for
from reprise.cli._output import emit, say

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reprise.reproduce.compare import Tolerance

__all__ = ["verify_many"]


def verify_many(
    ctx: typer.Context,
    queries: Sequence[str],
    *,
    workers: int,
    cluster: str | None,
    in_place: bool,
    tolerance: Tolerance | None,
    json_output: bool,
) -> None:
    """Re-verify what ``queries`` select on Dask; print one verdict per target and a summary; exit 1 unless all pass."""
    from dataclasses import asdict

    from reprise.team.batch import verify_queries

    report = verify_queries(
        queries, settings=settings_for(ctx), workers=workers, cluster=cluster, in_place=in_place, tolerance=tolerance
    )
    data = {
        "queries": list(report.queries),
        "cluster": report.cluster,
        "workers": report.workers,
        "seconds": round(report.seconds, 3),
        "summary": report.summary,
        "ok": report.ok,
        "verdicts": [asdict(item) for item in report.verdicts],
    }

    def render() -> None:
        for item in report.verdicts:
            typer.echo(f"{item.verdict:<17} {item.target}  {item.summary}")
        counts = ", ".join(f"{count} {verdict}" for verdict, count in report.summary.items())
        say(f"{len(report.verdicts)} target(s) on {report.workers} worker(s) in {report.seconds:.0f} s: {counts}")

    emit(data, as_json=json_output, render=render)
    if not report.ok:
        raise typer.Exit(1)
